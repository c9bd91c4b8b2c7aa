#pragma once

// The wire between chat_client and chat_server (a DEALER and a ROUTER), and
// the line format chat_client prints events in. Header only, standard
// library and cppzmq.
//
// Every message is one ZeroMQ multipart message of 1 to 8 frames: the first
// is the verb (ASCII), each further frame one field, in the order below.
// Numbers are decimal ASCII; a TARGET is a user name, or `#room` for a
// room; user and room names are 1 to 64 bytes of printable ASCII without
// spaces or '#'. Binary payloads travel as a frame of their own, never
// encoded. A frame is at most max_frame bytes (the server's ZMQ_MAXMSGSIZE:
// a larger one drops the connection).
//
// Client -> server:
//   login USER                          log in (replaces an earlier session
//                                       of USER); waiting messages follow
//   join ROOM                           become a member of ROOM (for good)
//   text TARGET TEXT                    a text message (up to 64 KiB; to a
//                                       room only as a member)
//   file_begin XFER TARGET NAME SIZE MIME
//                                       start sending a file (XFER: the
//                                       client's number for the transfer;
//                                       MIME may be empty: depot detects it)
//   file_chunk XFER BYTES               the next piece (at most one per
//                                       credit received, each <= max_chunk)
//   file_end XFER                       no more pieces
//   forward ID TARGET                   send a stored file on by its id
//                                       (one sent to or by USER)
//   fetch XFER ID CREDIT                stream file ID (one sent to or by
//                                       USER) back; the server may send
//                                       CREDIT (1 to 64) data messages
//   credit XFER N                       N more data messages for fetch XFER
//                                       (ignored once it has ended)
//   cancel XFER                         give transfer XFER up
//   logout                              end the session (messages wait)
//
// Server -> client:
//   ok VERB DETAIL                      login, join, text, forward, logout
//   error VERB KEY MESSAGE              VERB failed (KEY: XFER, target, id
//                                       or ""); VERB `file`: upload XFER
//                                       failed after it began (MESSAGE is
//                                       depot's error, or "aborted")
//   credit XFER N                       N more file_chunk for upload XFER
//   stored XFER ID SIZE DEDUP           upload XFER is in depot as ID;
//                                       DEDUP "1" if it was there already
//                                       (to the sender; the receivers get
//                                       `file`)
//   msg FROM TARGET TEXT                a text (TARGET: you, or #room)
//   file FROM TARGET NAME SIZE MIME ID  a file offer (fetch it by ID)
//   meta XFER NAME SIZE MIME SHA256     fetch XFER starts
//   data XFER OFFSET BYTES              the next range, in file order
//   fetched XFER                        fetch XFER is complete and verified
//
// Flow control (credit): the server grants upload credit and never holds
// more than upload_credit pieces of one upload that depot has not taken:
// it grants one more credit each time depot takes a piece, so a sender is
// stopped, without anything buffering, while depot's window is full. For a
// fetch the receiver grants credit; the server sends only as many data
// messages as it was granted, and pauses the depot download meanwhile. A
// client that sends past its credit gets `error` and loses the transfer;
// so does an upload whose sender owes pieces, or a fetch whose receiver
// owes credit, for longer than the server's --idle-timeout.

#include <zmq.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chat {

/// Largest frame either side accepts.
inline constexpr size_t max_frame = (size_t{1} << 20) + 4096;
/// Largest file_chunk payload.
inline constexpr size_t max_chunk = size_t{1} << 20;
/// Most frames in one message; a message with more is refused.
inline constexpr size_t max_frames = 8;
/// Pieces of one upload the server holds at most (its initial credit).
inline constexpr uint64_t upload_credit = 4;

/// A received message: its frames, the first being the verb.
using frames = std::vector<zmq::message_t>;

/// Frame `i` as text ("" if there is none).
inline std::string_view field(const frames& m, size_t i) {
  if (i >= m.size()) return {};
  return {static_cast<const char*>(m[i].data()), m[i].size()};
}

/// A decimal number without sign or leading garbage, or nullopt.
inline std::optional<uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

/// A valid user or room name (see the top of this file).
inline bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (c <= ' ' || c > '~' || c == '#') return false;
  return true;
}

/// A valid TARGET: a name, or '#' and a name.
inline bool valid_target(std::string_view s) {
  return !s.empty() && valid_name(s[0] == '#' ? s.substr(1) : s);
}

/// A frame holding a copy of `text`.
inline zmq::message_t text_frame(std::string_view text) {
  return zmq::message_t(text.data(), text.size());
}

/// Receives one whole message from `s` without waiting, keeping at most
/// max_frames + 1 frames (the rest are read and dropped, so a hostile peer
/// cannot make us hold many). `identity`: a ROUTER's first frame, taken
/// apart. False if nothing was waiting.
inline bool receive(zmq::socket_t& s, frames& out,
                    zmq::message_t* identity = nullptr) {
  out.clear();
  zmq::message_t part;
  if (!s.recv(part, zmq::recv_flags::dontwait)) return false;
  bool first = identity != nullptr;
  for (;;) {
    bool more = part.more();
    if (first) {
      *identity = std::move(part);
      first = false;
    } else if (out.size() <= max_frames) {
      out.push_back(std::move(part));
    }
    if (!more) return true;
    part = zmq::message_t();
    (void)s.recv(part, zmq::recv_flags::none);  // the rest is there already
  }
}

/// Escapes `s` for one field of an event line: '\\', tab, newline and
/// carriage return become \\, \t, \n and \r.
inline std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// The fields of one event line (tab separated, each unescaped).
inline std::vector<std::string> split_event(std::string_view line) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\t') {
      out.emplace_back();
    } else if (c == '\\' && i + 1 < line.size()) {
      char n = line[++i];
      out.back() += n == 't' ? '\t' : n == 'n' ? '\n' : n == 'r' ? '\r' : n;
    } else {
      out.back() += c;
    }
  }
  return out;
}

}  // namespace chat
