#pragma once

// `depotd fsck`: checks (and with --repair, repairs) a POSIX store on disk,
// safely while depotd serves it. The checker is storage/fsck.hpp; this is
// its command line: the flags, the report as text or JSON, the progress
// bar, the exit status.

/// Runs `depotd fsck` with `argv[0]` "fsck" and its flags after it. Returns
/// the exit status: 0 clean (or everything found repaired), 1 findings
/// left, 2 usage error or a root that cannot be checked.
int fsck_main(int argc, char** argv);
