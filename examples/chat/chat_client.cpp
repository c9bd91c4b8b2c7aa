// chat_client: a command-line client of chat_server (wire: chat_wire.hpp),
// for a person in a terminal and for tests as a driver.
//
//   chat_client --server EP --user NAME [--chunk BYTES] [--credit N]
//
// Logs in as NAME, then reads commands from stdin, one per line:
//   send TARGET TEXT         a text to a user, or to #room
//   say ROOM TEXT            a text to a room (send #ROOM TEXT)
//   join ROOM                join a room
//   sendfile TARGET PATH [MIME]
//                            send a file (streamed in --chunk pieces, as
//                            the server grants credit)
//   fetch ID PATH            fetch a file offered to you into PATH (written
//                            as PATH.part, renamed when complete)
//   forward ID TARGET        send a file you have on by its id
//   pending                  files offered to you and not fetched yet
//   quit                     (or end of input) leave once the transfers
//                            in progress have ended
//
// Prints one line per event on stdout, its fields separated by tabs (tabs,
// newlines and backslashes in a field escaped as \t, \n, \\): the server's
// messages as they come (`ok`, `error`, `msg`, `file`, `stored`, `meta`;
// see chat_wire.hpp) except `data` and `credit`, and its own: `sending XFER
// PATH SIZE`, `fetched XFER ID PATH SIZE`, `pending ID FROM NAME SIZE MIME`
// (one per offer) then `pending_end COUNT`, and `bye` on leaving. Errors of
// its own (a bad command, a file that cannot be read) are `error` lines too,
// with VERB the command. Diagnostics go to stderr.

#include "chat_wire.hpp"

#include <zmq.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace {

struct client_options {
  std::string server = "tcp://127.0.0.1:5580";
  std::string user;
  size_t chunk = size_t{256} << 10;
  uint64_t credit = 4;
};

// Prints one event line.
void emit(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) line += '\t';
    line += chat::escape(fields[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

// A file descriptor closed on destruction.
struct file_handle {
  int fd = -1;
  explicit file_handle(int f) : fd(f) {}
  ~file_handle() {
    if (fd >= 0) ::close(fd);
  }
  file_handle(const file_handle&) = delete;
  file_handle& operator=(const file_handle&) = delete;
};

class chat_client {
 public:
  explicit chat_client(client_options opts)
      : opts_(std::move(opts)), socket_(ctx_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 1000);
    socket_.set(zmq::sockopt::maxmsgsize,
                static_cast<int64_t>(chat::max_frame));
    socket_.connect(opts_.server);
    send({"login", opts_.user});
  }

  // Runs until quit (or end of input) and no transfer is in progress.
  int run() {
    for (;;) {
      if (quitting_ && uploads_.empty() && fetches_.empty()) break;
      zmq::pollitem_t items[] = {
          {socket_.handle(), 0, ZMQ_POLLIN, 0},
          {nullptr, STDIN_FILENO, ZMQ_POLLIN, 0},
      };
      zmq::poll(items, stdin_open_ ? 2 : 1, std::chrono::milliseconds(1000));
      if (items[0].revents & ZMQ_POLLIN) {
        chat::frames m;
        while (chat::receive(socket_, m)) on_message(m);
      }
      // The end of a pipe's input is POLLHUP, which zmq_poll reports as
      // ZMQ_POLLERR.
      if (stdin_open_ && (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
        read_stdin();
    }
    send({"logout"});
    emit({"bye"});
    return 0;
  }

 private:
  struct upload {
    std::unique_ptr<file_handle> file;
    std::string path;
    uint64_t credit = 0;
    bool ended = false;
  };
  struct fetch {
    std::string id, path, part;
    std::unique_ptr<file_handle> file;
    uint64_t received = 0;
  };
  struct offer {
    std::string from, name, size, mime;
  };

  void send(const std::vector<std::string>& fields) {
    for (size_t i = 0; i < fields.size(); ++i)
      socket_.send(chat::text_frame(fields[i]), i + 1 < fields.size()
                                                    ? zmq::send_flags::sndmore
                                                    : zmq::send_flags::none);
  }

  // --- commands from stdin ---------------------------------------------------

  void read_stdin() {
    char buf[4096];
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return;
      stdin_open_ = false;
      quitting_ = true;
      if (!input_.empty()) command(input_);
      return;
    }
    input_.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = input_.find('\n')) != std::string::npos) {
      std::string line = input_.substr(0, nl);
      input_.erase(0, nl + 1);
      command(line);
    }
  }

  // Splits off the first word of `rest` (leading spaces skipped).
  static std::string word(std::string_view& rest) {
    size_t b = rest.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) {
      rest = {};
      return {};
    }
    rest.remove_prefix(b);
    size_t e = rest.find_first_of(" \t\r");
    std::string w(rest.substr(0, e));
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e);
    return w;
  }

  static std::string rest_of(std::string_view rest) {
    size_t b = rest.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    rest.remove_prefix(b);
    while (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
    return std::string(rest);
  }

  void command(std::string_view line) {
    std::string_view rest = line;
    std::string cmd = word(rest);
    if (cmd.empty()) return;
    if (cmd == "send" || cmd == "say") {
      std::string target = word(rest);
      std::string text = rest_of(rest);
      if (target.empty() || text.empty())
        return emit({"error", cmd, "", cmd + " TARGET TEXT"});
      if (cmd == "say") target = "#" + target;
      return send({"text", target, text});
    }
    if (cmd == "join") {
      std::string room = word(rest);
      if (room.empty()) return emit({"error", cmd, "", "join ROOM"});
      return send({"join", room});
    }
    if (cmd == "sendfile") {
      std::string target = word(rest);
      std::string path = word(rest);
      std::string mime = word(rest);
      if (target.empty() || path.empty())
        return emit({"error", cmd, "", "sendfile TARGET PATH [MIME]"});
      return send_file(target, path, mime);
    }
    if (cmd == "fetch") {
      std::string id = word(rest);
      std::string path = word(rest);
      if (id.empty() || path.empty())
        return emit({"error", cmd, "", "fetch ID PATH"});
      return start_fetch(id, path);
    }
    if (cmd == "forward") {
      std::string id = word(rest);
      std::string target = word(rest);
      if (id.empty() || target.empty())
        return emit({"error", cmd, "", "forward ID TARGET"});
      return send({"forward", id, target});
    }
    if (cmd == "pending") {
      for (auto& [id, o] : offers_)
        emit({"pending", id, o.from, o.name, o.size, o.mime});
      return emit({"pending_end", std::to_string(offers_.size())});
    }
    if (cmd == "quit") {
      quitting_ = true;
      return;
    }
    emit({"error", cmd, "",
          "commands: send, say, join, sendfile, fetch, forward, pending, "
          "quit"});
  }

  void send_file(const std::string& target, const std::string& path,
                 const std::string& mime) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      if (fd >= 0) ::close(fd);
      return emit({"error", "sendfile", path,
                   fd < 0 ? std::strerror(errno) : "not a regular file"});
    }
    uint64_t xfer = ++last_xfer_;
    auto& up = uploads_[xfer];
    up.file = std::make_unique<file_handle>(fd);
    up.path = path;
    std::string name = path.substr(path.find_last_of('/') + 1);
    send({"file_begin", std::to_string(xfer), target, name,
          std::to_string(st.st_size), mime});
    emit({"sending", std::to_string(xfer), path, std::to_string(st.st_size)});
  }

  // Sends a piece per credit until the file ends.
  void push(uint64_t xfer, upload& up) {
    std::string key = std::to_string(xfer);
    while (up.credit > 0 && !up.ended) {
      buffer_.resize(opts_.chunk);
      ssize_t n = ::read(up.file->fd, buffer_.data(), buffer_.size());
      if (n < 0) {
        emit({"error", "sendfile", key, std::strerror(errno)});
        send({"cancel", key});
        uploads_.erase(xfer);
        return;
      }
      if (n == 0) {
        up.ended = true;
        send({"file_end", key});
        return;
      }
      --up.credit;
      zmq::message_t frame(buffer_.data(), static_cast<size_t>(n));
      socket_.send(chat::text_frame("file_chunk"), zmq::send_flags::sndmore);
      socket_.send(chat::text_frame(key), zmq::send_flags::sndmore);
      socket_.send(frame, zmq::send_flags::none);
    }
  }

  void start_fetch(const std::string& id, const std::string& path) {
    uint64_t xfer = ++last_xfer_;
    std::string part = path + ".part";
    int fd =
        ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return emit({"error", "fetch", path, std::strerror(errno)});
    auto& f = fetches_[xfer];
    f.id = id;
    f.path = path;
    f.part = part;
    f.file = std::make_unique<file_handle>(fd);
    send({"fetch", std::to_string(xfer), id, std::to_string(opts_.credit)});
  }

  void end_fetch(uint64_t xfer, bool ok) {
    auto it = fetches_.find(xfer);
    if (it == fetches_.end()) return;
    fetch& f = it->second;
    if (ok && ::fsync(f.file->fd) == 0 &&
        std::rename(f.part.c_str(), f.path.c_str()) == 0) {
      emit({"fetched", std::to_string(xfer), f.id, f.path,
            std::to_string(f.received)});
      offers_.erase(f.id);
    } else {
      if (ok) emit({"error", "fetch", std::to_string(xfer), "cannot save"});
      std::remove(f.part.c_str());
    }
    fetches_.erase(it);
  }

  // --- messages from the server ---------------------------------------------

  void on_message(chat::frames& m) {
    std::string verb(chat::field(m, 0));
    std::optional<uint64_t> xfer = chat::parse_number(chat::field(m, 1));
    if (verb == "credit" && m.size() == 3 && xfer) {
      auto it = uploads_.find(*xfer);
      auto n = chat::parse_number(chat::field(m, 2));
      if (it != uploads_.end() && n) {
        it->second.credit += *n;
        push(*xfer, it->second);
      }
      return;
    }
    if (verb == "data" && m.size() == 4 && xfer) {
      auto it = fetches_.find(*xfer);
      if (it == fetches_.end()) return;
      fetch& f = it->second;
      auto offset = chat::parse_number(chat::field(m, 2));
      const char* p = static_cast<const char*>(m[3].data());
      size_t left = m[3].size();
      bool ok = offset && *offset == f.received;
      while (ok && left > 0) {
        ssize_t n = ::write(f.file->fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) {
          p += n;
          left -= static_cast<size_t>(n);
        }
      }
      if (!ok) {
        emit({"error", "fetch", std::to_string(*xfer),
              "out of order or cannot write"});
        send({"cancel", std::to_string(*xfer)});
        end_fetch(*xfer, false);
        return;
      }
      f.received += m[3].size();
      send({"credit", std::to_string(*xfer), "1"});
      return;
    }
    std::vector<std::string> fields;
    for (size_t i = 0; i < m.size(); ++i)
      fields.emplace_back(chat::field(m, i));
    if (verb == "fetched" && xfer) return end_fetch(*xfer, true);
    emit(fields);
    if (verb == "file" && m.size() == 7)
      offers_[fields[6]] = {fields[1], fields[3], fields[4], fields[5]};
    if (verb == "stored" && xfer) uploads_.erase(*xfer);
    if (verb == "error" && m.size() == 4) {
      if (auto k = chat::parse_number(fields[2])) {
        if (verb == "error" && fields[1] == "fetch") end_fetch(*k, false);
        if (fields[1].rfind("file", 0) == 0) uploads_.erase(*k);
      }
    }
  }

  client_options opts_;
  zmq::context_t ctx_;
  zmq::socket_t socket_;
  std::map<uint64_t, upload> uploads_;
  std::map<uint64_t, fetch> fetches_;
  std::map<std::string, offer> offers_;  // id -> offer, not fetched yet
  uint64_t last_xfer_ = 0;
  std::string input_;
  std::vector<char> buffer_;  // one piece of a file being sent
  bool stdin_open_ = true;
  bool quitting_ = false;
};

int usage(const char* why) {
  if (why) std::cerr << "chat_client: " << why << "\n";
  std::cerr << "usage: chat_client --server EP --user NAME [--chunk BYTES] "
               "[--credit N]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  client_options opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") return usage(nullptr), 0;
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    std::string v = argv[++i];
    if (a == "--server") {
      opts.server = v;
    } else if (a == "--user") {
      opts.user = v;
    } else if (a == "--chunk") {
      auto n = chat::parse_number(v);
      if (!n || *n == 0 || *n > chat::max_chunk)
        return usage("--chunk: 1 to 1048576 bytes");
      opts.chunk = *n;
    } else if (a == "--credit") {
      auto n = chat::parse_number(v);
      if (!n || *n == 0 || *n > 64) return usage("--credit: 1 to 64");
      opts.credit = *n;
    } else {
      return usage(("unknown flag " + a).c_str());
    }
  }
  if (!chat::valid_name(opts.user))
    return usage("--user NAME is required (printable, no spaces or '#')");
  try {
    chat_client client(opts);
    return client.run();
  } catch (const zmq::error_t& e) {
    std::cerr << "chat_client: " << opts.server << ": " << e.what() << "\n";
    return 1;
  }
}
