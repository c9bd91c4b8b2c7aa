#pragma once

// `depotd fsck`: checks a POSIX store on disk (storage/posix_store.hpp has
// the layout) and, if asked, repairs it, safely while depotd instances
// serve the same root. One job per file: this header and fsck.cpp (the
// run: staging area, shard walk, report), fsck_instances (which instances
// are alive and what they are working on), fsck_object (what one object's
// entries say), fsck_repair (the repairs, each re-checked just before).
//
// What is checked, per object `abcdEFGH1234` in ROOT/ab/cd:
//   - its bytes hash (SHA-256, re-read in full) to its metadata's sha256 and
//     have its size, and its id is one of the first max_candidates naming
//     candidates of that digest (storage/naming.hpp);
//   - its metadata decodes;
//   - references: the count stat and list report is the number of entries
//     named `EFGH1234.r.GEN.*` with GEN the metadata's generation. They
//     agree with the references really held when every such entry is a
//     regular file holding metadata of the same content (sha256 and size:
//     a hard link to the `.meta`, or to the metadata a joining upload
//     wrote, which the store cannot tell apart from a copy), no entry of
//     another generation lies about (uncounted, never collected), and a
//     stored object has at least one (else stat and list cannot see it).
// Orphans: bytes without metadata, metadata without bytes, reference
// entries without either, the staging directory of a dead instance (its
// flock free), a `.dead` marker whose owner is not alive, and any name the
// store never makes (stray).
//
// Anything a live instance may be in the middle of is not a finding but
// counted as in flight: an object with a `.dead` marker of a live
// instance, or whose id an operation in a live instance's journal names
// (read after the anomaly was seen; the object is then examined again).
//
// Limits, known: an operation whose journal record could not be written
// (depotd logs it; a full disk) is invisible here, so its work in flight
// may be taken for damage; bytes without metadata at an id that another
// upload claims at that very instant may be moved aside after the claim
// accepted them (a claim takes bytes already in place as its own); a
// delete of the last reference that meets repair's marker leaves the
// deciding to it, and if repair then backs off (a live journal named the
// object) the unreferenced object stays for the next run to quarantine;
// probing a dead instance's lock holds it for an instant, and a depotd
// recovering at that instant leaves that instance to its next recovery.

#include "schema/error.hpp"
#include "storage/file_system.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace depot::storage {

/// What is wrong. fsck_kind_name gives each its report name.
enum class fsck_kind {
  corrupt,          ///< bytes unreadable, or size or sha256 not the metadata's
  misnamed,         ///< the id is not a naming candidate of the content
  bad_meta,         ///< metadata unreadable or undecodable
  missing_bytes,    ///< metadata (and references) without bytes
  orphan_bytes,     ///< bytes without metadata
  bad_refs,         ///< reference entries and the count disagree (above)
  stale_staging,    ///< ROOT/.staging/INSTANCE of a dead instance
  stale_tombstone,  ///< a `.dead` marker whose owner is not alive
  stray,            ///< a name the store never makes
  unreadable,       ///< a directory fsck cannot list (nothing repaired)
};

/// How many kinds there are.
inline constexpr size_t fsck_kinds = 10;

/// "corrupt", "misnamed", ... as in the report.
const char* fsck_kind_name(fsck_kind k);

/// One thing found.
struct fsck_finding {
  fsck_kind kind = fsck_kind::stray;  ///< what is wrong
  std::string id;      ///< the object's id, or empty (staging, strays)
  std::string path;    ///< the entry, relative to the root (any bytes)
  std::string detail;  ///< what is wrong, one sentence
  std::string action;  ///< what repair did, or why it did not; "" if not asked
  bool repaired = false;  ///< repair put it right
};

/// How far the check is: objects whose bytes were hashed, bytes hashed.
struct fsck_progress {
  uint64_t objects = 0;  ///< objects hashed so far
  uint64_t bytes = 0;    ///< bytes hashed so far
};

/// How to check.
struct fsck_options {
  std::string root;  ///< an existing store root; never created
  /// Repair: corrupt, misnamed, unreferenced objects, objects without
  /// metadata or bytes, and strays are moved (renamed) into
  /// ROOT/.quarantine/ID.STAMP/ (strays: stray.STAMP/); reference entries
  /// of another generation are removed, bogus ones replaced by a link to
  /// the metadata; dead instances and stale markers are recovered by the
  /// store's own recovery. A healthy object is never touched.
  bool repair = false;
  /// As the depotd serving the root was given them: an object stored under
  /// a candidate past max_candidates, or with other id_bits, is misnamed.
  std::optional<unsigned> id_bits;
  uint32_t max_candidates = 16;  ///< see id_bits
  /// Called on the calling thread as bytes are hashed (every MiB or so).
  std::function<void(const fsck_progress&)> progress;
  /// If set, each finding is given here once final (repaired or not) and
  /// not kept in the report: memory stays bounded whatever the store holds.
  std::function<void(const fsck_finding&)> on_finding;
  /// Default: posix_file_system_beneath(root) (no symlink ever followed).
  std::shared_ptr<file_system> fs;
};

/// What a run found and did.
struct fsck_report {
  std::vector<fsck_finding> findings;  ///< empty when on_finding is set
  uint64_t objects = 0;                ///< objects whose bytes were hashed
  uint64_t bytes = 0;                  ///< bytes hashed
  uint64_t in_flight = 0;  ///< anomalies skipped: a live instance's work
  std::array<uint64_t, fsck_kinds> by_kind{};  ///< findings of each kind
  uint64_t repaired = 0;                       ///< findings repaired

  /// All findings.
  uint64_t total() const;
  /// Findings left as they were: the store is clean when this is 0.
  uint64_t unrepaired() const { return total() - repaired; }
};

/// Checks (and repairs, if asked) the store at `options.root`. io_error if
/// the root is missing, a symlink, not a directory or cannot be read;
/// bad_request for options out of range. Findings are not errors: they are
/// in the report. Safe while depotd instances use the root; several fsck
/// runs at once are safe too (each repair is one more instance).
schema::expected<fsck_report> run_fsck(const fsck_options& options);

}  // namespace depot::storage
