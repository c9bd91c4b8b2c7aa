#include "depotd/liveness.hpp"

#include "transport/server.hpp"

namespace depotd {
namespace {

using probe_atom = caf::atom_constant<caf::atom("probe")>;

caf::behavior probe() {
  return {[](probe_atom) { return probe_atom::value; }};
}

}  // namespace

liveness::liveness(caf::actor_system& sys, depot::transport::server& server)
    : sys_{sys}, server_{server}, probe_{sys.spawn(probe)} {}

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
