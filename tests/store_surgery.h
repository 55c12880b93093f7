// Damage a built token store the way no checksum catches: overwrite token
// ids in a shard's payload, then re-seal it (the new xxh3 payload checksum in
// the shard header and in manifest.json), leaving the manifest's recorded
// max_token_id as it was. Only an id check can tell such a store from a good
// one. Also: edit manifest.json's JSON directly, past what the reader allows.
#pragma once
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/format.h"
#include "store/manifest.h"
#include "util/fs.h"
#include "util/hash.h"

namespace replay::store_surgery {

// Sets token `positions[k]` (an index into the payload of `split`'s first
// shard) to `id`, and re-seals the shard and the manifest.
inline void reseal_with_token(const std::filesystem::path& store_dir, store::Split split,
                              const std::vector<uint64_t>& positions, uint32_t id) {
  const std::filesystem::path manifest_path = store_dir / store::kManifestName;
  store::Manifest m = store::manifest_from_json(fs::read_file(manifest_path), manifest_path.string());
  store::ShardInfo& info = m.split(split).shards.at(0);
  const std::filesystem::path shard_path = store_dir / info.file;
  std::string bytes = fs::read_file(shard_path);
  store::ShardHeader h =
      store::decode_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), shard_path.string());
  char* payload = bytes.data() + store::kHeaderBytes;
  for (uint64_t at : positions) {
    if (h.token_bytes == 2) {
      const uint16_t narrow = static_cast<uint16_t>(id);
      std::memcpy(payload + at * 2, &narrow, 2);
    } else {
      std::memcpy(payload + at * 4, &id, 4);
    }
  }
  h.payload_checksum = hash::xxh3_64(payload, h.payload_bytes());
  info.checksum = h.payload_checksum;
  fs::write_file_atomic(shard_path, store::encode_header(h) + bytes.substr(store::kHeaderBytes));
  fs::write_file_atomic(manifest_path, store::manifest_to_json(m));
}

// Rewrites manifest.json through `edit` on its JSON.
inline void edit_manifest_json(const std::filesystem::path& store_dir,
                               const std::function<void(nlohmann::json&)>& edit) {
  const std::filesystem::path path = store_dir / store::kManifestName;
  nlohmann::json j = nlohmann::json::parse(fs::read_file(path));
  edit(j);
  fs::write_file_atomic(path, j.dump(2));
}

}  // namespace replay::store_surgery
