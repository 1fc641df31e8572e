// The message stream under a Link: a WebSocket over TCP in the server, over
// boost::beast::test::stream in unit tests (tests/unit/replication/link_test.cc), so a test
// can drive a link with fail counts, cut frames and a peer that stops reading.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket.hpp>
#include <cstddef>
#include <utility>

namespace meshdb::replication {

// Whole binary messages in both directions. Used on the link's strand only; one read and
// one write may be outstanding at a time (as for websocket::stream).
class LinkStream {
 public:
  virtual ~LinkStream() = default;
  // Binary messages from now on; reads of longer messages fail with message_too_big.
  virtual void SetBinary(size_t read_message_max) = 0;
  // One whole message appended to `buffer`.
  virtual boost::asio::awaitable<boost::beast::error_code> Read(
      boost::beast::flat_buffer& buffer) = 0;
  // Whether the last message read was binary.
  virtual bool GotBinary() const = 0;
  virtual boost::asio::awaitable<boost::beast::error_code> Write(
      boost::asio::const_buffer message) = 0;
  // The close handshake.
  virtual boost::asio::awaitable<boost::beast::error_code> Close(
      boost::beast::websocket::close_reason reason) = 0;
  // Drops the connection without a close handshake.
  virtual void Abort() = 0;
};

// A LinkStream over websocket::stream<NextLayer> (beast::tcp_stream, beast::test::stream).
template <typename NextLayer>
class WsLinkStream final : public LinkStream {
 public:
  template <typename... Args>
  explicit WsLinkStream(Args&&... args) : ws_(std::forward<Args>(args)...) {}

  // For the upgrade (handshake or accept) before the link runs.
  boost::beast::websocket::stream<NextLayer>& ws() { return ws_; }

  void SetBinary(size_t read_message_max) override {
    ws_.binary(true);
    ws_.read_message_max(read_message_max);
  }
  boost::asio::awaitable<boost::beast::error_code> Read(
      boost::beast::flat_buffer& buffer) override {
    auto [ec, n] = co_await ws_.async_read(buffer, kTuple);
    co_return ec;
  }
  bool GotBinary() const override { return ws_.got_binary(); }
  boost::asio::awaitable<boost::beast::error_code> Write(
      boost::asio::const_buffer message) override {
    auto [ec, n] = co_await ws_.async_write(message, kTuple);
    co_return ec;
  }
  boost::asio::awaitable<boost::beast::error_code> Close(
      boost::beast::websocket::close_reason reason) override {
    auto [ec] = co_await ws_.async_close(reason, kTuple);
    co_return ec;
  }
  void Abort() override { boost::beast::get_lowest_layer(ws_).close(); }

 private:
  static constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  boost::beast::websocket::stream<NextLayer> ws_;
};

}  // namespace meshdb::replication
