// A chat server stores an attachment in depot and hands its id to the
// receiver, whose client downloads it by that id.
//
//   chat_attachment [ENDPOINT]     (default: $DEPOT_SERVER, else
//   tcp://127.0.0.1:5570)
//
// Chat messages carry only the 12-character file id, never the bytes: the
// sender's upload and the receiver's download go to depot directly. Each
// side has its own depot::client::connection (a connection is not thread
// safe).

#include <condition_variable>
#include <cstdlib>
#include <depot/client/client.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
namespace dc = depot::client;

// What travels through the chat: a text and a reference to an attachment.
struct chat_message {
  std::string from;
  std::string text;
  std::string attachment_id;  // a depot file id
  std::string attachment_name;
};

// The receiver's inbox, filled by the chat server's thread.
class inbox {
 public:
  void push(chat_message m) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      messages_.push(std::move(m));
    }
    ready_.notify_one();
  }
  chat_message pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return !messages_.empty(); });
    chat_message m = std::move(messages_.front());
    messages_.pop();
    return m;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::queue<chat_message> messages_;
};

dc::options depot_options(const std::string& endpoint) {
  dc::options o;
  o.endpoint = endpoint;
  o.timeout = std::chrono::seconds(10);
  return o;
}

// The chat server's side: store the attachment, post the message with its id.
bool send_with_attachment(const std::string& endpoint, const fs::path& file,
                          inbox& to) {
  auto depot = dc::connection::open(depot_options(endpoint));
  if (!depot) {
    std::cerr << "chat server: " << to_string(depot.error()) << "\n";
    return false;
  }
  dc::upload_options up;
  up.mime = "image/png";
  auto stored = depot->upload_file(file.string(), up);
  if (!stored) {
    std::cerr << "chat server: upload failed: " << to_string(stored.error())
              << "\n";
    return false;
  }
  std::cout << "chat server: stored " << stored->file.name << " as "
            << stored->file.id << " (" << stored->file.size << " bytes"
            << (stored->dedup ? ", already there" : "") << ")\n";
  to.push({"alice", "look at this!", stored->file.id, stored->file.name});
  return true;
}

// The receiver's side: fetch the attachment by id (verified by SHA-256).
bool receive(const std::string& endpoint, inbox& mine, const fs::path& dir,
             std::string& got_id) {
  chat_message m = mine.pop();
  std::cout << "bob: message from " << m.from << ": \"" << m.text
            << "\" with attachment " << m.attachment_id << "\n";
  auto depot = dc::connection::open(depot_options(endpoint));
  if (!depot) {
    std::cerr << "bob: " << to_string(depot.error()) << "\n";
    return false;
  }
  fs::path target = dir / ("received-" + m.attachment_name);
  auto meta = depot->download_file(m.attachment_id, target.string());
  if (!meta) {
    std::cerr << "bob: download failed: " << to_string(meta.error()) << "\n";
    return false;
  }
  std::cout << "bob: saved " << target.string() << " (" << meta->size
            << " bytes, sha256 " << meta->sha256.substr(0, 16) << "...)\n";
  got_id = m.attachment_id;
  return true;
}

int main(int argc, char** argv) {
  const char* env = std::getenv("DEPOT_SERVER");
  std::string endpoint = argc > 1      ? argv[1]
                         : env && *env ? env
                                       : dc::default_endpoint;

  fs::path dir = fs::temp_directory_path() /
                 ("depot-chat-example-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path photo = dir / "cat.png";
  {
    std::ofstream out(photo, std::ios::binary);
    out << "\x89PNG\r\n\x1a\n";
    for (int i = 0; i < 200000; ++i) out.put(static_cast<char>(i * 31 % 251));
  }

  inbox bobs_inbox;
  bool received = false;
  std::string id;
  std::thread bob{[&] { received = receive(endpoint, bobs_inbox, dir, id); }};
  bool sent = send_with_attachment(endpoint, photo, bobs_inbox);
  if (!sent) bobs_inbox.push({"system", "upload failed", "", ""});
  bob.join();

  bool same = false;
  if (sent && received) {
    std::ifstream a(photo, std::ios::binary),
        b(dir / "received-cat.png", std::ios::binary);
    same = std::string(std::istreambuf_iterator<char>(a), {}) ==
           std::string(std::istreambuf_iterator<char>(b), {});
    std::cout << (same ? "bob got the same bytes alice sent\n"
                       : "content differs!\n");
    // The chat deletes the message, and with it its reference to the file.
    if (auto c = dc::connection::open(depot_options(endpoint)))
      (void)c->remove(id);
  }
  fs::remove_all(dir);
  return sent && received && same ? 0 : 1;
}
