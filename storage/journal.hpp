#pragma once

// A POSIX store instance's journal of operations in flight, in its staging
// directory: "B op id ref" when an operation starts, "E op" once the store
// is consistent again. Whoever recovers a dead instance rolls back the
// operations its journals leave open (storage/recovery.hpp).

#include "schema/error.hpp"
#include "storage/file_system.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace depot::storage {

/// The journal of one live instance. Thread safe.
class journal {
 public:
  /// Starts a journal in `dir` (the instance's own, locked directory).
  /// `fs` outlives the journal.
  static schema::expected<std::unique_ptr<journal>> open(file_system& fs,
                                                         std::string dir);

  /// Records the start of an operation on `id` that created reference
  /// entry `ref` (a name in the id's directory) or none ("-"); returns its
  /// number for end(). A record that cannot be written only weakens crash
  /// recovery (a crash could then leak that reference): logged, not failed.
  uint64_t begin(const std::string& id, const std::string& ref);

  /// Records that operation `op` left the store consistent. An error means
  /// it is not recorded and recovery would undo the operation after a
  /// crash: the caller must not report the operation as done.
  caf::error end(uint64_t op);

  /// At a clean stop: if no operation is open, closes and removes the
  /// journal and returns true (nothing is left to recover); else leaves it
  /// for recovery and returns false. Nothing may be begun afterwards.
  bool retire();

 private:
  journal(file_system& fs, std::string dir) : fs_(&fs), dir_(std::move(dir)) {}

  // Starts the next journal file with the operations still open, then
  // drops the previous one. Called with mutex_ held (or before sharing).
  caf::error rotate();

  file_system* fs_;
  std::string dir_;
  std::mutex mutex_;
  uint64_t last_op_ = 0;
  std::unique_ptr<writable_file> file_;
  uint64_t index_ = 0;  // journal.INDEX is the current file
  uint64_t bytes_ = 0;
  std::map<uint64_t, std::string> open_ops_;  // op -> its "B" line
};

/// An operation that a journal began and never ended.
struct unfinished_op {
  std::string id;   ///< a well-formed id
  std::string ref;  ///< the reference entry it created, or "-"
};

/// Applies one journal file's text to `open` (op -> what it began): a "B"
/// line with a well-formed id begins an op, an "E" line ends one; anything
/// else is ignored. Never throws on any input (fuzz/journal_parser.cpp).
void parse_journal(const std::string& text,
                   std::map<uint64_t, unfinished_op>* open);

/// The unfinished operations of the instance whose directory `dir` holds
/// `files`, read from all its journal files (unreadable ones skipped).
std::vector<unfinished_op> unfinished_ops(
    file_system& fs, const std::string& dir,
    const std::vector<std::string>& files);

}  // namespace depot::storage
