#include "depotd/liveness.hpp"

#include "transport/server.hpp"

namespace depotd {
namespace {

using probe_atom = caf::atom_constant<caf::atom("probe")>;

// Answers probe_atom with its own `answer`. The argument is not idle: CAF
// 0.17 spawns a function given no arguments through a null argument tuple
// that it dereferences (UBSan: reference binding to null pointer).
caf::behavior probe(probe_atom answer) {
  return {[answer](probe_atom) { return answer; }};
}

}  // namespace

liveness::liveness(caf::actor_system& sys, depot::transport::server& server)
    : sys_{sys}, server_{server}, probe_{sys.spawn(probe, probe_atom::value)} {}

liveness::~liveness() {
  caf::anon_send_exit(probe_, caf::exit_reason::user_shutdown);
}

std::string liveness::check(std::chrono::milliseconds limit) {
  if (!server_.responsive(limit)) return "the transport's I/O loop";
  bool answered = false;
  caf::scoped_actor self{sys_};
  self->request(probe_, limit, probe_atom::value)
      .receive([&](probe_atom) { answered = true; }, [](const caf::error&) {});
  return answered ? "" : "the actor scheduler";
}

}  // namespace depotd
