// TlsStream: TLS over a TCP socket, with OpenSSL doing its record I/O through a small BIO of
// ours instead of Asio's memory-BIO engine (asio::ssl::stream). Records are written straight
// to the socket from inside SSL_write (one send per record, no copy), and read from a buffer
// the stream fills with the socket's own asynchronous receive (so a read that finds data
// waiting costs one recv, as on a plain socket). Used by every TLS listener (HTTPS, wss) and
// by replication's outbound wss links; clients of our own tools keep beast::ssl_stream.
//
// It is what Beast needs of a stream: AsyncReadStream and AsyncWriteStream (http::async_read,
// http::async_write and websocket::stream work over it unchanged), beast::get_lowest_layer
// yields the TlsStream itself, which offers what beast::tcp_stream's callers use (socket(),
// close(), expires_after(), expires_never()), and websocket teardown is a TLS shutdown.
//
// - Timeouts: expires_after(d) bounds the operations pending or started until d has passed
//   (or until expires_never()); when it passes, the socket is closed and they complete with
//   beast::error::timeout, as beast::tcp_stream's do.
// - Errors: as asio::ssl::stream's: asio::error::eof after the peer's close_notify,
//   asio::ssl::error::stream_truncated for an end of the connection without one, OpenSSL's
//   error (asio::error::get_ssl_category()) for a protocol failure, the system error of a
//   failed send or receive.
// - TLS 1.3 post-handshake messages (session tickets, key updates) are handled inside
//   SSL_read/SSL_write: a read may need the socket writable and a write readable, and waits
//   for it.
// - Writes of several buffers are coalesced up to one record (16 KB), so an HTTP header and
//   a small body go out as one record and one send; a larger buffer is written whole, a
//   record (and a send) per 16 KB, in one operation.
//
// Thread-safety: as for asio::ssl::stream: one read and one write may be outstanding at a
// time, all operations started from the stream's executor (a strand). A moved-from stream
// may only be destroyed or assigned to.
#pragma once

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace meshdb::net {

namespace tls_detail {

// What an attempt at an SSL call needs before it can go on.
enum class Progress { kDone, kNeedInput, kNeedWritable };

// The state shared by the stream and its deadline timer (heap-allocated, so a TlsStream can
// move while the timer waits).
class Core : public std::enable_shared_from_this<Core> {
 public:
  // Takes `ssl` (SSL_free on destruction). Throws boost::system::system_error when the BIO
  // cannot be made.
  Core(boost::asio::ip::tcp::socket socket, SSL* ssl);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  boost::asio::ip::tcp::socket socket;
  SSL* const ssl;

  // One attempt at an SSL call. kDone: `ec` and `bytes` are the outcome. A write's `bytes`
  // carries over between the attempts of one operation (it writes the whole buffer).
  Progress Handshake(boost::beast::error_code& ec);
  Progress Shutdown(boost::beast::error_code& ec);
  Progress Read(boost::asio::mutable_buffer buffer, boost::beast::error_code& ec, size_t& bytes);
  Progress Write(boost::asio::const_buffer buffer, boost::beast::error_code& ec, size_t& bytes);

  // Where a receive puts the bytes SSL asked for (only asked when none are buffered).
  boost::asio::mutable_buffer InputSpace();
  // After that receive: `bytes` arrived, or the peer ended (eof) or the receive failed.
  // Returns the error that ends the operation (none for eof: SSL reports it).
  boost::beast::error_code InputArrived(const boost::beast::error_code& ec, size_t bytes);
  // After a wait for writability: the error that ends the operation, if any.
  boost::beast::error_code WaitEnded(const boost::beast::error_code& ec) const;

  // The bytes of a write of several buffers, copied into one record's worth.
  std::vector<unsigned char>& coalesced() { return coalesced_; }

  void ExpiresAfter(std::chrono::steady_clock::duration after);
  void ExpiresNever() { deadline_ = std::chrono::steady_clock::time_point::max(); }
  void Close();

  // The BIO's callbacks.
  int BioRead(char* data, int size);
  int BioWrite(const char* data, int size);

 private:
  // Maps what SSL_get_error said about `result` to an outcome.
  Progress Outcome(int result, boost::beast::error_code& ec);
  void ArmTimer();
  void OnTimer(const boost::beast::error_code& ec);

  std::unique_ptr<unsigned char[]> input_;  // kInputBytes, allocated on first receive
  size_t input_begin_ = 0;
  size_t input_end_ = 0;
  bool input_eof_ = false;
  boost::beast::error_code io_error_;  // the last failed send, for SSL_ERROR_SYSCALL
  std::vector<unsigned char> coalesced_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  bool timer_armed_ = false;
  bool timed_out_ = false;
};

// A composed operation running `attempt(core, ec, bytes)` until it is done, receiving or
// waiting for writability in between. Completes with (error_code, size_t), or with
// (error_code) when not kWithBytes; never inside the initiating call.
template <typename Attempt, bool kWithBytes>
class IoOp {
 public:
  IoOp(Core* core, Attempt attempt) : core_(core), attempt_(std::move(attempt)) {}

  template <typename Self>
  void operator()(Self& self, boost::beast::error_code ec = {}, size_t bytes = 0) {
    switch (state_) {
      case State::kStart:
        break;
      case State::kReceiving:
        if ((ec_ = core_->InputArrived(ec, bytes))) return Complete(self);
        break;
      case State::kWaitingWritable:
        if ((ec_ = core_->WaitEnded(ec))) return Complete(self);
        break;
      case State::kPosted:
        return Complete(self);
    }
    const bool first = state_ == State::kStart;
    switch (attempt_(*core_, ec_, bytes_)) {
      case Progress::kNeedInput:
        state_ = State::kReceiving;
        return core_->socket.async_receive(core_->InputSpace(), std::move(self));
      case Progress::kNeedWritable:
        state_ = State::kWaitingWritable;
        return core_->socket.async_wait(boost::asio::socket_base::wait_write, std::move(self));
      case Progress::kDone:
        break;
    }
    if (first) {  // never complete inside the initiating call
      state_ = State::kPosted;
      return boost::asio::post(core_->socket.get_executor(), std::move(self));
    }
    Complete(self);
  }

 private:
  template <typename Self>
  void Complete(Self& self) {
    if constexpr (kWithBytes) {
      self.complete(ec_, bytes_);
    } else {
      self.complete(ec_);
    }
  }

  enum class State { kStart, kReceiving, kWaitingWritable, kPosted };
  Core* core_;
  Attempt attempt_;
  State state_ = State::kStart;
  boost::beast::error_code ec_;
  size_t bytes_ = 0;
};

// Starts an IoOp on `core`'s socket. Handler: void(error_code, size_t) when kWithBytes, else
// void(error_code).
template <bool kWithBytes, typename Token, typename Attempt>
auto AsyncRun(Core* core, Token&& token, Attempt attempt) {
  using Signature = std::conditional_t<kWithBytes, void(boost::beast::error_code, size_t),
                                       void(boost::beast::error_code)>;
  return boost::asio::async_compose<Token, Signature>(
      IoOp<Attempt, kWithBytes>(core, std::move(attempt)), token, core->socket);
}

}  // namespace tls_detail

class TlsStream {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  using native_handle_type = SSL*;

  // A stream over `socket` (connected, or accepted) with a new SSL of `context`. Throws
  // boost::system::system_error when OpenSSL cannot make one.
  TlsStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& context);
  TlsStream(TlsStream&&) noexcept = default;
  TlsStream& operator=(TlsStream&&) noexcept = default;
  ~TlsStream() = default;

  executor_type get_executor() { return core_->socket.get_executor(); }
  native_handle_type native_handle() { return core_->ssl; }
  boost::asio::ip::tcp::socket& socket() { return core_->socket; }

  // Bounds the operations from now on (see the file comment).
  void expires_after(std::chrono::steady_clock::duration after) { core_->ExpiresAfter(after); }
  void expires_never() { core_->ExpiresNever(); }
  // Closes the socket (no close_notify); pending operations complete with operation_aborted.
  void close() { core_->Close(); }

  // Handler: void(error_code).
  template <typename Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, Token&& token) {
    if (type == boost::asio::ssl::stream_base::client) {
      SSL_set_connect_state(core_->ssl);
    } else {
      SSL_set_accept_state(core_->ssl);
    }
    return tls_detail::AsyncRun<false>(core_.get(), std::forward<Token>(token),
                                       [](tls_detail::Core& core, boost::beast::error_code& ec,
                                          size_t&) { return core.Handshake(ec); });
  }
  // Sends close_notify and waits for the peer's. Handler: void(error_code).
  template <typename Token>
  auto async_shutdown(Token&& token) {
    return tls_detail::AsyncRun<false>(core_.get(), std::forward<Token>(token),
                                       [](tls_detail::Core& core, boost::beast::error_code& ec,
                                          size_t&) { return core.Shutdown(ec); });
  }
  // Handler: void(error_code, size_t).
  template <typename MutableBufferSequence, typename Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    boost::asio::mutable_buffer first = FirstNonEmpty<boost::asio::mutable_buffer>(buffers);
    return tls_detail::AsyncRun<true>(
        core_.get(), std::forward<Token>(token),
        [first](tls_detail::Core& core, boost::beast::error_code& ec, size_t& bytes) {
          return core.Read(first, ec, bytes);
        });
  }
  template <typename ConstBufferSequence, typename Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return tls_detail::AsyncRun<true>(core_.get(), std::forward<Token>(token),
                                      WriteAttempt(buffers));
  }

  // websocket::stream's close: a TLS shutdown, as for beast::ssl_stream. (These three are
  // Beast's customization points, found by argument-dependent lookup: their names are Beast's.)
  template <typename Handler>
  friend void async_teardown(  // NOLINT(readability-identifier-naming)
      boost::beast::role_type, TlsStream& stream, Handler&& handler) {
    stream.async_shutdown(std::forward<Handler>(handler));
  }
  friend void teardown(  // NOLINT(readability-identifier-naming)
      boost::beast::role_type, TlsStream& stream, boost::beast::error_code& ec);
  // beast::close_socket (websocket::stream's timeouts).
  friend void beast_close_socket(  // NOLINT(readability-identifier-naming)
      TlsStream& stream) {
    stream.close();
  }

 private:
  template <typename Buffer, typename Sequence>
  static Buffer FirstNonEmpty(const Sequence& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      Buffer buffer(*it);
      if (buffer.size() != 0) return buffer;
    }
    return Buffer();
  }

  // One record's worth of `buffers`: the first buffer itself when it fills a record or is
  // all there is, else a copy of the first 16 KB into the core's coalescing buffer.
  template <typename ConstBufferSequence>
  auto WriteAttempt(const ConstBufferSequence& buffers) {
    constexpr size_t kRecord = size_t{16} * 1024;
    boost::asio::const_buffer first = FirstNonEmpty<boost::asio::const_buffer>(buffers);
    const size_t total = boost::asio::buffer_size(buffers);
    if (first.size() < total && first.size() < kRecord) {
      std::vector<unsigned char>& flat = core_->coalesced();
      flat.resize(std::min(total, kRecord));
      boost::asio::buffer_copy(boost::asio::buffer(flat), buffers);
      first = boost::asio::buffer(flat);
    }
    return [first](tls_detail::Core& core, boost::beast::error_code& ec, size_t& bytes) {
      return core.Write(first, ec, bytes);
    };
  }

  std::shared_ptr<tls_detail::Core> core_;
};

}  // namespace meshdb::net
