// Writes the seed corpus of frame_decoder_fuzz: one file per sample message of
// tests/unit/replication/protocol_samples.h (every message type, edge values), named
// <index>-<type>.frame, each the message's EncodeFrame bytes.
//
//   build/tests/fuzz/frame_corpus_gen tests/fuzz/corpus/frame_decoder
//
// Rerun it when the wire format or the samples change, and commit the result.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "replication/protocol_samples.h"
#include "replication/wire/protocol.h"

int main(int argc, char** argv) {
  namespace rep = meshdb::replication;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  int index = 0;
  for (const auto& message : rep::SampleMessages()) {
    char name[64];
    std::snprintf(name, sizeof name, "%02d-%s.frame", ++index,
                  std::string(rep::MessageTypeName(rep::TypeOf(message))).c_str());
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    const std::string frame = rep::EncodeFrame(message);
    out.write(frame.data(), static_cast<std::streamsize>(frame.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "wrote %d frames to %s\n", index, dir.c_str());
  return 0;
}
