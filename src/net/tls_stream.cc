#include "net/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>

namespace meshdb::net {

namespace asio = boost::asio;
using boost::beast::error_code;

namespace tls_detail {

namespace {

// Holds the largest TLS record (16 KB of plaintext, 256 bytes of expansion, the header).
constexpr size_t kInputBytes = size_t{17} * 1024;

Core* CoreOf(BIO* bio) { return static_cast<Core*>(BIO_get_data(bio)); }

int BioWrite(BIO* bio, const char* data, int size) { return CoreOf(bio)->BioWrite(data, size); }
int BioRead(BIO* bio, char* data, int size) { return CoreOf(bio)->BioRead(data, size); }

long BioCtrl(BIO*, int command, long, void*) {  // NOLINT(google-runtime-int): OpenSSL's type
  // OpenSSL flushes after each record it writes; writes are unbuffered here. Nothing else
  // (pending counts, kTLS, datagram queries) applies.
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* Method() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "meshdb-tls-socket");
    if (m == nullptr) return static_cast<BIO_METHOD*>(nullptr);
    BIO_meth_set_write(m, &BioWrite);
    BIO_meth_set_read(m, &BioRead);
    BIO_meth_set_ctrl(m, &BioCtrl);
    BIO_meth_set_create(m, &BioCreate);
    return m;
  }();
  return method;
}

error_code LastSslError() {
  return error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
}

}  // namespace

Core::Core(asio::ip::tcp::socket s, SSL* ssl_handle)
    : socket(std::move(s)), ssl(ssl_handle), timer_(socket.get_executor()) {
  const BIO_METHOD* method = Method();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl);
    throw boost::system::system_error(LastSslError(), "TLS stream BIO");
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl, bio, bio);  // the SSL owns it
  // As asio::ssl::stream: a write completes after each record; buffers are released while
  // idle (an idle connection holds no record buffers).
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                        SSL_MODE_RELEASE_BUFFERS);
  error_code ec;
  socket.non_blocking(true, ec);  // the BIO sends directly; Asio's own operations are unaffected
}

Core::~Core() { SSL_free(ssl); }

Progress Core::Outcome(int result, error_code& ec) {
  const int error = SSL_get_error(ssl, result);
  switch (error) {
    case SSL_ERROR_NONE:
      ec = {};
      return Progress::kDone;
    case SSL_ERROR_WANT_READ:
      return Progress::kNeedInput;
    case SSL_ERROR_WANT_WRITE:
      return Progress::kNeedWritable;
    case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
      ec = asio::error::eof;
      return Progress::kDone;
    case SSL_ERROR_SYSCALL:
      if (io_error_) {
        ec = io_error_;
      } else if (input_eof_) {
        ec = asio::ssl::error::stream_truncated;
      } else {
        ec = LastSslError();
        if (!ec) ec = asio::ssl::error::unspecified_system_error;
      }
      ERR_clear_error();
      return Progress::kDone;
    default: {
      const unsigned long code = ERR_peek_last_error();  // NOLINT(google-runtime-int)
      if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ec = asio::ssl::error::stream_truncated;
      } else {
        ec = error_code(static_cast<int>(code), asio::error::get_ssl_category());
        if (!ec) ec = asio::ssl::error::unspecified_system_error;
      }
      ERR_clear_error();
      return Progress::kDone;
    }
  }
}

Progress Core::Handshake(error_code& ec) {
  ERR_clear_error();
  return Outcome(SSL_do_handshake(ssl), ec);
}

Progress Core::Shutdown(error_code& ec) {
  ERR_clear_error();
  int result = SSL_shutdown(ssl);
  if (result == 0) result = SSL_shutdown(ssl);  // ours is sent: now wait for the peer's
  if (result == 1) {
    ec = {};
    return Progress::kDone;
  }
  return Outcome(result, ec);
}

Progress Core::Read(asio::mutable_buffer buffer, error_code& ec, size_t& bytes) {
  bytes = 0;
  if (buffer.size() == 0) {
    ec = {};
    return Progress::kDone;
  }
  ERR_clear_error();
  const int result = SSL_read_ex(ssl, buffer.data(), buffer.size(), &bytes);
  return result == 1 ? (ec = {}, Progress::kDone) : Outcome(result, ec);
}

Progress Core::Write(asio::const_buffer buffer, error_code& ec, size_t& bytes) {
  // `bytes` is what the operation's earlier attempts wrote (0 at first): the rest goes on, a
  // record per SSL_write_ex, so a large buffer is one operation rather than one per record.
  const auto* data = static_cast<const unsigned char*>(buffer.data());
  while (bytes < buffer.size()) {
    ERR_clear_error();
    size_t written = 0;
    const int result = SSL_write_ex(ssl, data + bytes, buffer.size() - bytes, &written);
    if (result != 1) return Outcome(result, ec);
    bytes += written;
  }
  ec = {};
  return Progress::kDone;
}

asio::mutable_buffer Core::InputSpace() {
  if (!input_) input_ = std::make_unique<unsigned char[]>(kInputBytes);
  input_begin_ = input_end_ = 0;  // SSL asks for more only when it took everything
  return asio::buffer(input_.get(), kInputBytes);
}

error_code Core::InputArrived(const error_code& ec, size_t bytes) {
  if (ec == asio::error::eof) {
    input_eof_ = true;  // SSL's next read sees the end (a truncation or after close_notify)
    return {};
  }
  if (ec) return timed_out_ ? error_code(boost::beast::error::timeout) : ec;
  input_end_ = bytes;
  return {};
}

error_code Core::WaitEnded(const error_code& ec) const {
  if (ec && timed_out_) return boost::beast::error::timeout;
  return ec;
}

int Core::BioRead(char* data, int size) {
  BIO* bio = SSL_get_rbio(ssl);
  BIO_clear_retry_flags(bio);
  if (input_begin_ == input_end_) {
    if (input_eof_) return 0;
    BIO_set_retry_read(bio);
    return -1;
  }
  const size_t n = std::min(static_cast<size_t>(size), input_end_ - input_begin_);
  std::memcpy(data, input_.get() + input_begin_, n);
  input_begin_ += n;
  return static_cast<int>(n);
}

int Core::BioWrite(const char* data, int size) {
  BIO* bio = SSL_get_wbio(ssl);
  BIO_clear_retry_flags(bio);
  for (;;) {
    const ssize_t sent =
        ::send(socket.native_handle(), data, static_cast<size_t>(size), MSG_NOSIGNAL);
    if (sent >= 0) return static_cast<int>(sent);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(bio);
    } else {
      io_error_ = error_code(errno, boost::system::system_category());
    }
    return -1;
  }
}

void Core::ExpiresAfter(std::chrono::steady_clock::duration after) {
  deadline_ = std::chrono::steady_clock::now() + after;
  if (!timer_armed_ || deadline_ < timer_.expiry()) ArmTimer();
}

void Core::ArmTimer() {
  timer_armed_ = true;
  timer_.expires_at(deadline_);  // cancels an earlier wait: its handler sees operation_aborted
  timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // re-armed, or the core is gone
    if (auto core = weak.lock()) core->OnTimer(ec);
  });
}

void Core::OnTimer(const error_code&) {
  timer_armed_ = false;
  if (deadline_ == std::chrono::steady_clock::time_point::max()) return;  // expires_never
  if (std::chrono::steady_clock::now() < deadline_) {  // pushed back since: wait on
    ArmTimer();
    return;
  }
  deadline_ = std::chrono::steady_clock::time_point::max();
  timed_out_ = true;
  Close();
}

void Core::Close() {
  error_code ignored;
  socket.close(ignored);
}

}  // namespace tls_detail

TlsStream::TlsStream(asio::ip::tcp::socket socket, asio::ssl::context& context) {
  SSL* ssl = SSL_new(context.native_handle());
  if (ssl == nullptr) throw boost::system::system_error(tls_detail::LastSslError(), "SSL_new");
  core_ = std::make_shared<tls_detail::Core>(std::move(socket), ssl);
}

void teardown(  // NOLINT(readability-identifier-naming): Beast's name
    boost::beast::role_type, TlsStream& stream, error_code& ec) {
  // Only websocket::stream's synchronous close would call this; meshdb closes asynchronously.
  stream.close();
  ec = {};
}

}  // namespace meshdb::net
