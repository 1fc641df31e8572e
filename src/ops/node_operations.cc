#include "ops/node_operations.h"

#include "common/log.h"
#include "config/config.h"
#include "ops/auth.h"
#include "ops/dispatcher.h"

namespace meshdb::ops {

Result<std::unique_ptr<NodeOperations>> CreateNodeOperations(const OpsDeps& deps) {
  const std::string keys_dir = deps.config->settings().root_path + "/keys";
  ASSIGN_OR_RETURN(std::unique_ptr<Auth> auth, Auth::Create(deps.store, deps.config, keys_dir));
  RETURN_IF_ERROR(auth->Bootstrap(deps.admin_username, deps.admin_password));
  OpEnv env;
  env.store = deps.store;
  env.config = deps.config;
  env.on_certificates_changed = deps.on_certificates_changed;
  env.fan_out = deps.fan_out;
  return std::unique_ptr<NodeOperations>(std::make_unique<Dispatcher>(env, std::move(auth)));
}

}  // namespace meshdb::ops
