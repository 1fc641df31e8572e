// Stored record bytes, and the binary form of transaction-log entries.
//
// Record value (the bytes in "r:<table>", carried unchanged by the log and by replication):
//   [u8 format = 1][u8 flags: bit0 tombstone][u64 HLC version, big-endian]
//   [u32 origin node id, big-endian][JSON text of the document; empty for tombstones]
//
// Log entry value ("txlog", key = u64 big-endian sequence):
//   [u8 format][u32 origin][u64 origin_sequence][u64 version][u32 write count]
//   (format: 1 complete, 2 partial = LogEntry::partial; 3 and 4 the same with the body
//   compressed), then the body: per write [u16 table length][table][u16 key length][key bytes]
//   [u32 value length][record bytes] — for formats 3 and 4, one zstd frame of those bytes.
//   The header stays uncompressed: retention and time lookups read the version at offset 13.
// All integers big-endian.
// Thread-safety: pure functions.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::storage {

inline constexpr unsigned char kRecordFormat = 1;
inline constexpr unsigned char kFlagTombstone = 0x01;
inline constexpr size_t kRecordHeaderBytes = 14;
// Leading byte of a log entry: LogEntry::partial false / true.
inline constexpr unsigned char kLogFormatComplete = 1;
inline constexpr unsigned char kLogFormatPartial = 2;
inline constexpr unsigned char kLogFormatCompleteZstd = 3;
inline constexpr unsigned char kLogFormatPartialZstd = 4;
inline constexpr size_t kLogHeaderBytes = 1 + 4 + 8 + 8 + 4;
// Bodies shorter than this are stored raw; longer ones compressed when that makes them smaller.
// Below it zstd (no dictionary) saves little and costs much: a one-row entry of a realistic
// ~300-byte record took ~4.5-5 us of the writer thread to shrink to ~195 bytes (building the
// entropy tables of so small an input is most of it); 5% of the server's CPU at batch 1.
inline constexpr size_t kLogCompressMinBytes = 512;
inline constexpr int kLogCompressLevel = 1;

struct RecordHeader {
  bool tombstone = false;
  uint64_t version = 0;
  uint32_t origin = 0;
};

// Writes header + JSON of `doc` into *out (replacing its contents).
void EncodeRecord(const RecordHeader& header, const boost::json::object& doc, std::string* out);
// Header only, with an empty document (a tombstone when header.tombstone).
void EncodeRecordHeader(const RecordHeader& header, std::string* out);

// Parses the header; *json receives the document text. Corruption on malformed bytes.
Status DecodeRecordHeader(std::string_view bytes, RecordHeader* header, std::string_view* json);
// Full decode; the document of a tombstone is empty.
Status DecodeRecord(std::string_view bytes, Record* record, bool* tombstone);

// Compresses the body when that pays (formats 3/4); these bytes are for the txlog only, never
// for the wire (replication ships LogEntry fields and raw record bytes).
void EncodeLogEntry(const LogEntry& entry, std::string* out);
// `sequence` comes from the log key, not from the value. Reads all four formats; Corruption on
// anything malformed (a bad frame included).
Status DecodeLogEntry(uint64_t sequence, std::string_view bytes, LogEntry* entry);

// Big-endian helpers.
void PutU64(std::string* out, uint64_t v);
uint64_t GetU64(const char* p);
std::string SequenceKey(uint64_t sequence);

}  // namespace meshdb::storage
