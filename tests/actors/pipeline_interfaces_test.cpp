// The pipeline's actors (see pipeline_test.cpp) against messages their
// typed interfaces do not list.

#include "actors/assembler.hpp"
#include "actors/messages.hpp"
#include "tests/actors/pipeline_test_support.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>

namespace depot::actors {
namespace {

using namespace test_support;

// Only a dynamically typed handle can send an actor what its interface does
// not list; such a message is counted, logged (not once per message) and,
// if it was a request, refused with unexpected_message.
TEST_F(Pipeline, AMessageAnActorDoesNotTakeIsCountedLoggedAndRefused) {
  start();
  std::ostringstream logged;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged)));
  const auto& ctx = pipe->ctx();
  std::vector<caf::actor> targets{
      caf::actor_cast<caf::actor>(ctx.writers.front()),
      caf::actor_cast<caf::actor>(ctx.committers.front()),
      caf::actor_cast<caf::actor>(ctx.readers.front()),
      caf::actor_cast<caf::actor>(ctx.deleter),
      caf::actor_cast<caf::actor>(ctx.janitor)};
  caf::scoped_actor self{sys, true};
  for (auto& target : targets) {
    auto answer = self->request(target, caf::infinite, std::string("junk"));
    sched.run();
    caf::error got;
    answer.receive([](const caf::message&) {},
                   [&](caf::error& err) { got = std::move(err); });
    EXPECT_EQ(got, caf::sec::unexpected_message);
  }
  spdlog::set_default_logger(previous);
  EXPECT_EQ(ctx.unexpected_messages.load(), targets.size());
  // The 1st, 2nd and 4th are logged; the 3rd and 5th only counted.
  std::string text = logged.str();
  size_t lines =
      static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  EXPECT_EQ(lines, 3u) << text;
  EXPECT_NE(text.find("disk writer got a message it does not take"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(4 so far)"), std::string::npos) << text;
  // The actors go on serving.
  EXPECT_TRUE(std::holds_alternative<schema::ping_reply>(
      one(schema::ping_request{}).body));
}

TEST_F(Pipeline, AnAssemblerCountsAMessageItDoesNotTakeAndTheUploadGoesOn) {
  start();
  auto token = begin({"on.txt", 6, std::nullopt, std::nullopt});
  auto assemblers = pipe->ctx().uploads->all();
  ASSERT_EQ(assemblers.size(), 1u);
  caf::anon_send(caf::actor_cast<caf::actor>(assemblers.front()), 42);
  sched.run();
  EXPECT_EQ(pipe->ctx().unexpected_messages.load(), 1u);
  auto r = chunk(token, 0, true, "abcdef");
  EXPECT_TRUE(std::holds_alternative<schema::chunk_done_reply>(r.body))
      << static_cast<int>(error_of(r));
}

// sweep_atom is the janitor's public message: it expires idle uploads at
// once, without waiting for its own timer (which is not in its interface).
TEST_F(Pipeline, TheJanitorSweepsOnRequestWithoutWaitingForItsTimer) {
  start();
  auto idle = begin({"idle.bin", std::nullopt, std::nullopt, std::nullopt});
  // Past the idle timeout by the clock, but no timer has fired.
  sched.clock().current_time += std::chrono::seconds(61);
  auto fresh = begin({"fresh.bin", std::nullopt, std::nullopt, std::nullopt});
  caf::anon_send(pipe->ctx().janitor, sweep_atom::value);
  sched.run();
  EXPECT_EQ(error_of(one(schema::upload_status_request{idle})),
            errc::unknown_upload);
  EXPECT_TRUE(std::holds_alternative<schema::upload_status_reply>(
      one(schema::upload_status_request{fresh}).body));
  EXPECT_EQ(pipe->ctx().unexpected_messages.load(), 0u);
}

}  // namespace
}  // namespace depot::actors
