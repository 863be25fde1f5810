// lookup: the entry `name` in `parent` (entries[0]) and, when the child's inode is in this bucket
// (every file created here, and directories that hashed here), its attributes (inode). A child
// elsewhere is looked up there by the client.
#include <cerrno>

#include "meta/keys.h"
#include "meta/names.h"
#include "meta/ops/ops.h"

namespace tessera::meta {

Result<proto::MetaResult> lookup(const OpContext& context, const proto::MetaLookup& op) {
  std::string why;
  if (int bad = check_name(op.name(), why); bad != 0) return refuse(bad, why);
  InodeId parent_id(op.parent());
  TESS_ASSIGN_OR_RETURN(auto parent, directory_for(context, parent_id, DirectoryUse::kSearch));
  if (!parent.ok()) return parent.refusal();
  TESS_ASSIGN_OR_RETURN(auto unlocked, unlocked_entry(context, parent_id, op.name()));
  if (!unlocked.ok()) return unlocked.refusal();
  std::optional<proto::DirEntry>& entry = *unlocked;
  if (!entry) return refuse(ENOENT, fmt::format("no '{}' in {:x}", op.name(), op.parent()));
  proto::MetaResult result;
  proto::MetaDirEntry& found = *result.add_entries();
  found.set_name(op.name());
  found.set_inode(entry->inode());
  found.set_type(entry->type());
  found.set_cookie(cookie_of(op.name()));
  InodeId child(entry->inode());
  if (is_local(context, child)) {
    TESS_ASSIGN_OR_RETURN(auto inode, existing_inode(context, child));
    if (!inode.ok() && inode.refusal().locked()) return inode.refusal();
    if (!inode.ok()) {
      return error(StatusCode::kCorruption, "entry '{}' of {:x} names missing inode {:x}",
                   op.name(), op.parent(), child.value());
    }
    *result.mutable_inode() = std::move(*inode);
  }
  return result;
}

}  // namespace tessera::meta
