// Conversions between chunk types and their wire messages, shared by service and client.
#pragma once

#include "drive/chunk_format.h"
#include "drive/chunk_store.h"
#include "proto/drive.pb.h"

namespace tessera {

proto::ChunkIdMessage to_message(const ChunkId& id);
// kInvalidArgument if the column does not fit 16 bits.
Result<ChunkId> from_message(const proto::ChunkIdMessage& message);

}  // namespace tessera
