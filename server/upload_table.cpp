#include "server/upload_table.hpp"

namespace depot::server {

schema::reply_body finished_upload::chunk_reply(const std::string& token,
                                                uint64_t seq) const {
  if (seq == last_seq) return completion;  // a retried last chunk
  if (seq > last_seq)
    return schema::error_reply{schema::errc::out_of_order,
                               "the upload is complete", last_seq + 1};
  // A retry of an earlier chunk: acknowledged again as before, where that
  // ack is still known.
  return schema::chunk_reply{token, seq, acked_total(acked, seq, received)};
}

schema::reply_body finished_upload::status_reply(
    const std::string& token) const {
  std::optional<schema::file_meta> file;
  if (auto* done = std::get_if<schema::chunk_done_reply>(&completion))
    file = done->file;
  return schema::upload_status_reply{token, last_seq + 1, received,
                                     std::move(file)};
}

}  // namespace depot::server
