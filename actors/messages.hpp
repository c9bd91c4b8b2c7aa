#pragma once

// The atoms and message types the actors exchange. Every actor's header
// declares its typed interface (caf::typed_actor) from these, so a message
// an actor does not take is a compile error at the sender.
//
// An actor's own timers and self-messages are not part of the handle others
// get: its implementation's type extends the public interface with them
// (`X_actor::extend<caf::reacts_to<private_atom>>`), its spawn function
// returns the narrower public handle, and the private atoms are declared in
// its .cpp. A message that still arrives unexpected (only possible through
// a dynamically typed handle) is logged and counted, never dropped unseen
// (actors/context.hpp: unexpected_message_handler).

#include "schema/messages.hpp"
#include "storage/store.hpp"
#include "transport/reply_sink.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace depot::actors {

/// The atoms of the actors' public interfaces; each actor's header says what
/// one means to it.
using request_atom = caf::atom_constant<caf::atom("request")>;
using chunk_atom = caf::atom_constant<caf::atom("chunk")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using abort_atom = caf::atom_constant<caf::atom("abort")>;
using hash_atom = caf::atom_constant<caf::atom("hash")>;
using digest_atom = caf::atom_constant<caf::atom("digest")>;
using write_atom = caf::atom_constant<caf::atom("write")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
using ok_atom = caf::atom_constant<caf::atom("ok")>;

/// Who asked: the client's connection and the id its request carried, so
/// whichever actor does the work can answer it (context.hpp: send_reply).
struct requester {
  transport::peer peer;
  std::optional<uint64_t> rid;  ///< echoed in the reply
};

struct context;
/// What every actor of the pipeline shares (actors/context.hpp).
using context_ptr = std::shared_ptr<const context>;

/// An upload's staging file, shared between its assembler (which owns the
/// upload) and the disk writer or committer using it (one at a time, in the
/// order the assembler sends them work). Dropping the last reference to an
/// uncommitted file removes it.
struct staging_slot {
  std::unique_ptr<storage::staging_file> file;

  /// Creates the staging file in `store` unless there is one already.
  caf::error open(storage::store& store) {
    if (file) return {};
    auto f = store.create_staging();
    if (!f) return f.error();
    file = std::move(*f);
    return {};
  }

  /// Appends to the staging file, creating it on first use.
  caf::error append(storage::store& store, const std::byte* data, size_t size) {
    if (auto err = open(store)) return err;
    return file->append(data, size);
  }
};
using staging_ptr = std::shared_ptr<staging_slot>;

/// Buffers held in RAM by an upload, handed over at commit.
struct buffer_list {
  std::vector<schema::buffer> parts;
};

/// What a committer needs to commit an upload.
struct commit_order {
  staging_ptr staging;  ///< may hold no file yet (everything was in RAM)
  buffer_list ram;      ///< bytes still in RAM, appended before commit
  storage::commit_info info;
};

/// The hasher's answer at the end of an upload.
struct content_digest {
  storage::digest sha256;
  std::string mime;  ///< the declared one, else the detected one
};

}  // namespace depot::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::actors::requester)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::actors::staging_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::actors::commit_order)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::actors::content_digest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::schema::buffer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::schema::request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::schema::chunk_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::schema::download_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::schema::stat_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::schema::list_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::schema::delete_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::storage::commit_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(depot::transport::peer)
