#include "drive_service/wire.h"

#include <limits>

namespace tessera {

proto::ChunkIdMessage to_message(const ChunkId& id) {
  proto::ChunkIdMessage message;
  message.set_bucket(id.bucket.value());
  message.set_stripe(id.stripe.value());
  message.set_column(id.column);
  message.set_generation(id.generation);
  return message;
}

Result<ChunkId> from_message(const proto::ChunkIdMessage& message) {
  if (message.column() > std::numeric_limits<uint16_t>::max()) {
    return error(StatusCode::kInvalidArgument, "column {} out of range", message.column());
  }
  return ChunkId{BucketId(message.bucket()), StripeId(message.stripe()),
                 static_cast<uint16_t>(message.column()), message.generation()};
}

}  // namespace tessera
