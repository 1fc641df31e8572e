// Auth over a real Store in a temporary directory: bootstrap, authentication, permissions,
// and the user/role/token handlers.
#include "ops/auth.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>

#include "call_op.h"
#include "config/config.h"
#include "security/base64.h"
#include "storage/store.h"
#include "temp_dir.h"
#include "test_store.h"

namespace meshdb::ops {
namespace {

namespace json = boost::json;

constexpr char kNotAuthorized[] =
    "This operation is not authorized due to role restrictions and/or invalid database items";

using meshdb::testing::TempDir;

std::string Basic(const std::string& user_pass) {
  return "Basic " + security::Base64Encode(user_pass);
}

json::object TablePerm(bool read, bool insert, bool update, bool del) {
  return {{"read", read},
          {"insert", insert},
          {"update", update},
          {"delete", del},
          {"attribute_permissions", json::array{}}};
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override { Open({}); }

  void Open(std::vector<std::pair<std::string, std::string>> cli) {
    auth_.reset();
    store_.reset();
    config::LoadOptions options;
    options.root = dir_.path() + "/root";
    options.cli = std::move(cli);
    auto config = config::Config::Load(options);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    config_ = std::make_unique<config::Config>(std::move(config).value());
    ASSERT_NO_FATAL_FAILURE(
        meshdb::testing::OpenTestStore(dir_.path() + "/db", 64ull << 20, &store_));
    auto auth = Auth::Create(store_.get(), config_.get(), dir_.path() + "/keys");
    ASSERT_TRUE(auth.ok()) << auth.status().ToString();
    auth_ = std::move(auth).value();
    ASSERT_TRUE(auth_->Bootstrap("admin", "adminpw").ok());
    env_ = OpEnv{store_.get(), config_.get(), auth_.get(), nullptr, nullptr};
  }

  // Runs a handler and waits for its completion.
  OpResult Run(void (Auth::*handler)(OpCall), json::object body, Caller caller = {}) {
    return testing::CallOp([&](OpCall call) { (auth_.get()->*handler)(std::move(call)); }, &env_,
                           std::move(caller), std::move(body));
  }

  Caller Admin() {
    auto who = auth_->Authenticate(Basic("admin:adminpw"), "10.0.0.1", {});
    EXPECT_TRUE(who.ok()) << who.status().ToString();
    return who.ok() ? *who : Caller{};
  }

  std::string AuthError(const std::string& header, json::object body = {},
                        const std::string& address = "10.0.0.1") {
    auto who = auth_->Authenticate(header, address, body);
    return who.ok() ? "OK " + who->username : who.status().ToString();
  }

  void CreateTable(const std::string& db, const std::string& table) {
    storage::TableDef def;
    def.database = db;
    def.name = table;
    def.primary_key = "id";
    ASSERT_TRUE(store_->CreateTable(def).ok());
  }

  void AddRole(const std::string& role, json::object permission) {
    OpResult r =
        Run(&Auth::AddRole, {{"role", role}, {"permission", std::move(permission)}}, Admin());
    ASSERT_TRUE(r.status.ok()) << r.status.ToString() << " " << json::serialize(r.body);
  }

  void AddUser(const std::string& user, const std::string& role, const std::string& pw = "pw",
               bool active = true) {
    OpResult r =
        Run(&Auth::AddUser,
            {{"username", user}, {"password", pw}, {"role", role}, {"active", active}}, Admin());
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(json::serialize(r.body), R"({"message":")" + user + R"( successfully added"})");
  }

  TempDir dir_;
  std::unique_ptr<config::Config> config_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Auth> auth_;
  OpEnv env_;
};

TEST_F(AuthTest, BootstrapCreatesSystemTablesRolesAndAdmin) {
  for (const char* t : {"hdb_user", "hdb_role", "hdb_nodes", "hdb_certificate", "hdb_info"}) {
    EXPECT_TRUE(store_->GetTable("system", t).ok()) << t;
  }
  EXPECT_FALSE(store_->GetTable("system", "hdb_certificate")->replicate);
  EXPECT_EQ(store_->GetTable("system", "hdb_user")->primary_key, "username");

  Caller admin = Admin();
  EXPECT_EQ(admin.username, "admin");
  EXPECT_TRUE(admin.super_user);
  EXPECT_FALSE(admin.cluster_user);
  EXPECT_EQ(json::serialize(admin.role.at("permission")), R"({"super_user":true})");

  // The stored row holds a salted hash, never the password.
  auto snap = store_->Read("system");
  ASSERT_TRUE(snap.ok());
  auto row = (*snap)->Get("hdb_user", "admin");
  ASSERT_TRUE(row.ok() && row->has_value());
  std::string stored(row->value().doc.at("password").get_string());
  EXPECT_EQ(stored.size(), 80u);
  EXPECT_EQ(row->value().doc.at("hash_function"), "sha256");
  EXPECT_EQ(row->value().doc.at("role"), "super_user");

  // A second bootstrap adds no other admin.
  ASSERT_TRUE(auth_->Bootstrap("other", "x").ok());
  OpResult users = Run(&Auth::ListUsers, {}, admin);
  ASSERT_TRUE(users.status.ok());
  ASSERT_EQ(users.body.as_array().size(), 1u);

  OpResult roles = Run(&Auth::ListRoles, {}, admin);
  ASSERT_TRUE(roles.status.ok());
  std::string listed = json::serialize(roles.body);
  EXPECT_NE(listed.find(R"("permission":{"cluster_user":true})"), std::string::npos) << listed;
  EXPECT_NE(listed.find(R"("permission":{"super_user":true})"), std::string::npos) << listed;
}

// authentication.hashFunction picks how new passwords are stored; every row keeps verifying with
// the function named in its own hash_function after the setting changes.
TEST_F(AuthTest, HashFunctionSettingAndRowsThatOutliveIt) {
  auto stored_row = [&](const std::string& user) {
    auto snap = store_->Read("system");
    EXPECT_TRUE(snap.ok());
    auto row = (*snap)->Get("hdb_user", json::value(user));
    EXPECT_TRUE(row.ok() && row->has_value());
    return row->value().doc;
  };
  Open({{"authentication_hashFunction", "argon2id"}});  // same data: admin is still sha256
  EXPECT_EQ(stored_row("admin").at("hash_function"), "sha256");
  AddUser("argon", "super_user", "argon-pw");
  json::object argon = stored_row("argon");
  EXPECT_EQ(argon.at("hash_function"), "argon2id");
  EXPECT_EQ(argon.at("password").get_string().subview().substr(0, 10), "$argon2id$");
  EXPECT_EQ(AuthError(Basic("argon:argon-pw")), "OK argon");
  EXPECT_EQ(AuthError(Basic("argon:argon-pX")), "Unauthenticated: Login failed");

  Open({{"authentication_hashFunction", "md5"}});
  EXPECT_EQ(AuthError(Basic("argon:argon-pw")), "OK argon");
  EXPECT_EQ(AuthError(Basic("admin:adminpw")), "OK admin");
  OpResult r = Run(&Auth::AlterUser, {{"username", "argon"}, {"password", "md5-pw"}}, Admin());
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(stored_row("argon").at("hash_function"), "md5");
  EXPECT_EQ(stored_row("argon").at("password").get_string().size(), 16u + 32u);
  EXPECT_EQ(AuthError(Basic("argon:md5-pw")), "OK argon");
  EXPECT_EQ(AuthError(Basic("argon:argon-pw")), "Unauthenticated: Login failed");

  // A row naming a function meshdb does not know cannot be logged into.
  storage::WriteRequest bad;
  bad.database = "system";
  storage::WriteOp op;
  op.kind = storage::WriteKind::kUpdate;
  op.table = "hdb_user";
  op.key = "argon";
  op.fields = json::object{{"hash_function", "bcrypt"}};
  bad.ops.push_back(std::move(op));
  ASSERT_TRUE(store_->Write(std::move(bad)).ok());
  auth_->Invalidate();
  EXPECT_EQ(AuthError(Basic("argon:md5-pw")), "Unauthenticated: Login failed");
}

TEST_F(AuthTest, BasicAuthentication) {
  EXPECT_EQ(AuthError(Basic("admin:adminpw")), "OK admin");
  EXPECT_EQ(AuthError(Basic("admin:wrong")), "Unauthenticated: Login failed");
  EXPECT_EQ(AuthError(Basic("nobody:adminpw")), "Unauthenticated: Login failed");
  EXPECT_EQ(AuthError(Basic("adminadminpw")), "Unauthenticated: Login failed");
  EXPECT_EQ(AuthError("Basic !!!"), "Unauthenticated: Invalid character");
  EXPECT_EQ(AuthError("Basic"), "Unauthenticated: Must login");
  EXPECT_EQ(AuthError("Digest abc"), "Unauthenticated: Must login");
  EXPECT_EQ(AuthError(""), "Unauthenticated: Must login");
}

TEST_F(AuthTest, BodyCredentialsOnlyWithoutHeader) {
  json::object body{{"username", "admin"}, {"password", "adminpw"}};
  EXPECT_EQ(AuthError("", body), "OK admin");
  EXPECT_EQ(AuthError("", {{"username", "admin"}, {"password", "nope"}}),
            "Unauthenticated: Login failed");
  // A header wins over the body.
  EXPECT_EQ(AuthError(Basic("admin:wrong"), body), "Unauthenticated: Login failed");
}

TEST_F(AuthTest, AuthorizeLocalOnlyForLoopbackWithoutHeader) {
  EXPECT_EQ(AuthError("", {}, "127.0.0.1"), "Unauthenticated: Must login");
  Open({{"authentication_authorizeLocal", "true"}});
  EXPECT_EQ(AuthError("", {}, "127.0.0.1"), "OK admin");
  EXPECT_EQ(AuthError("", {}, "::1"), "OK admin");
  EXPECT_EQ(AuthError("", {}, "10.0.0.1"), "Unauthenticated: Must login");
  EXPECT_EQ(AuthError(Basic("admin:wrong"), {}, "127.0.0.1"), "Unauthenticated: Login failed");
}

TEST_F(AuthTest, InactiveUserCannotLogIn) {
  AddUser("sleepy", "super_user", "pw", false);
  EXPECT_EQ(AuthError(Basic("sleepy:pw")),
            "Unauthenticated: Cannot complete request: User is inactive");
  EXPECT_EQ(AuthError(Basic("sleepy:bad")), "Unauthenticated: Login failed");
}

TEST_F(AuthTest, CachedLoginsAreDroppedAfterUserChanges) {
  AddUser("bob", "super_user", "first");
  EXPECT_EQ(AuthError(Basic("bob:first")), "OK bob");  // now cached
  OpResult r = Run(&Auth::AlterUser, {{"username", "bob"}, {"password", "second"}}, Admin());
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.body.at("message"), "updated 1 of 1 records");
  EXPECT_EQ(json::serialize(r.body.at("update_hashes")), R"(["bob"])");
  EXPECT_EQ(AuthError(Basic("bob:first")), "Unauthenticated: Login failed");
  EXPECT_EQ(AuthError(Basic("bob:second")), "OK bob");

  r = Run(&Auth::DropUser, {{"username", "bob"}}, Admin());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(json::serialize(r.body), R"({"message":"bob successfully deleted"})");
  EXPECT_EQ(AuthError(Basic("bob:second")), "Unauthenticated: Login failed");
  r = Run(&Auth::DropUser, {{"username", "bob"}}, Admin());
  EXPECT_EQ(r.status.ToString(), "NotFound: User bob does not exist");
}

TEST_F(AuthTest, AlterUserErrors) {
  AddUser("carl", "super_user");
  auto err = [&](json::object body) {
    return Run(&Auth::AlterUser, std::move(body), Admin()).status.ToString();
  };
  EXPECT_EQ(err({{"username", "carl"}}),
            "InvalidArgument: nothing to update, must supply active, role or password to update");
  EXPECT_EQ(err({{"password", "x"}}), "InvalidArgument: username is required");
  EXPECT_EQ(err({{"username", "carl"}, {"active", "no"}}),
            "InvalidArgument: active must be true or false");
  EXPECT_EQ(err({{"username", "carl"}, {"password", ""}}),
            "InvalidArgument: password cannot be an empty string");
  EXPECT_EQ(err({{"username", "carl"}, {"role", "nosuchrole"}}),
            "NotFound: Update failed.  Requested 'nosuchrole' role not found.");
  OpResult r = Run(&Auth::AlterUser, {{"username", "nosuch"}, {"password", "x"}}, Admin());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.body.at("message"), "updated 0 of 1 records");
  EXPECT_EQ(json::serialize(r.body.at("skipped_hashes")), R"(["nosuch"])");
}

TEST_F(AuthTest, AddUserErrors) {
  AddUser("dup", "super_user");
  auto err = [&](json::object body) {
    return Run(&Auth::AddUser, std::move(body), Admin()).status.ToString();
  };
  EXPECT_EQ(err({{"username", "dup"}, {"password", "x"}, {"role", "super_user"}, {"active", true}}),
            "Conflict: User dup already exists");
  EXPECT_EQ(err({{"password", "x"}, {"role", "super_user"}, {"active", true}}),
            "InvalidArgument: Username can't be blank");
  EXPECT_EQ(err({{"username", "u"}, {"role", "super_user"}, {"active", true}}),
            "InvalidArgument: Password can't be blank");
  EXPECT_EQ(err({{"username", "u"}, {"password", "x"}, {"active", true}}),
            "InvalidArgument: Role can't be blank");
  EXPECT_EQ(err({{"username", "u"}, {"password", "x"}, {"role", "super_user"}}),
            "InvalidArgument: Active can't be blank");
  EXPECT_EQ(err({{"username", "u"}, {"password", "x"}, {"role", "super_user"}, {"active", "yes"}}),
            "InvalidArgument: Active must be a boolean");
  EXPECT_EQ(err({{"username", "u"}, {"password", "x"}, {"role", "nosuchrole"}, {"active", true}}),
            "NotFound: nosuchrole role not found");
}

TEST_F(AuthTest, ListUsersHidesSecretsAndExpandsRoles) {
  AddUser("dana", "cluster_user");
  Caller admin = Admin();
  ASSERT_TRUE(Run(&Auth::CreateAuthenticationTokens, {}, admin).status.ok());  // sets refresh_token
  OpResult r = Run(&Auth::ListUsers, {}, admin);
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.body.as_array().size(), 2u);
  for (const json::value& u : r.body.as_array()) {
    for (const char* secret : {"password", "hash", "refresh_token"}) {
      EXPECT_FALSE(u.as_object().contains(secret)) << json::serialize(u);
    }
    ASSERT_TRUE(u.at("role").is_object()) << json::serialize(u);
  }
  const json::value& first = r.body.as_array()[0];
  EXPECT_EQ(first.at("username"), "admin");
  EXPECT_EQ(first.at("role").at("role"), "super_user");
  EXPECT_EQ(first.at("role").at("permission").at("super_user"), true);
  EXPECT_EQ(first.at("role").at("permission").at("system").at("tables").at("hdb_user").at("read"),
            true);

  OpResult info = Run(&Auth::UserInfo, {}, admin);
  ASSERT_TRUE(info.status.ok());
  EXPECT_EQ(info.body.at("username"), "admin");
  EXPECT_EQ(info.body.at("active"), true);
  EXPECT_EQ(json::serialize(info.body.at("role").at("permission")), R"({"super_user":true})");
  EXPECT_FALSE(info.body.as_object().contains("password"));
  EXPECT_FALSE(info.body.as_object().contains("refresh_token"));
}

TEST_F(AuthTest, TokensAuthenticateAndRefresh) {
  AddUser("tok", "cluster_user", "tokpw");
  OpResult r = Run(&Auth::CreateAuthenticationTokens, {{"username", "tok"}, {"password", "tokpw"}});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  std::string op_token(r.body.at("operation_token").as_string());
  std::string refresh(r.body.at("refresh_token").as_string());

  auto who = auth_->Authenticate("Bearer " + op_token, "10.0.0.1", {});
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->username, "tok");
  EXPECT_TRUE(who->cluster_user);
  EXPECT_FALSE(who->super_user);
  EXPECT_EQ(AuthError("Bearer " + refresh), "Unauthenticated: invalid token");
  EXPECT_EQ(AuthError("Bearer garbage"), "Unauthenticated: invalid token");
  EXPECT_EQ(AuthError("Bearer " + op_token.substr(0, op_token.size() - 4) + "AAAA"),
            "Unauthenticated: invalid token");

  OpResult refreshed = Run(&Auth::RefreshOperationToken, {{"refresh_token", refresh}});
  ASSERT_TRUE(refreshed.status.ok()) << refreshed.status.ToString();
  EXPECT_EQ(AuthError("Bearer " + std::string(refreshed.body.at("operation_token").as_string())),
            "OK tok");
  EXPECT_EQ(Run(&Auth::RefreshOperationToken, {{"refresh_token", op_token}}).status.ToString(),
            "InvalidArgument: 'refresh_token' is required");
  EXPECT_EQ(Run(&Auth::RefreshOperationToken, {}).status.ToString(),
            "InvalidArgument: 'refresh_token' is required");
  EXPECT_EQ(Run(&Auth::RefreshOperationToken, {{"refresh_token", "garbage.x.y"}}).status.ToString(),
            "Unauthenticated: invalid token");

  // A new pair invalidates the previous refresh token.
  OpResult second =
      Run(&Auth::CreateAuthenticationTokens, {{"username", "tok"}, {"password", "tokpw"}});
  ASSERT_TRUE(second.status.ok());
  EXPECT_EQ(Run(&Auth::RefreshOperationToken, {{"refresh_token", refresh}}).status.ToString(),
            "Unauthenticated: invalid token");
  EXPECT_TRUE(
      Run(&Auth::RefreshOperationToken, {{"refresh_token", second.body.at("refresh_token")}})
          .status.ok());

  // Bad credentials.
  for (json::object body : {json::object{{"username", "tok"}, {"password", "bad"}},
                            json::object{{"username", "nobody"}, {"password", "x"}},
                            json::object{{"username", "tok"}}}) {
    EXPECT_EQ(Run(&Auth::CreateAuthenticationTokens, body).status.ToString(),
              "Unauthenticated: invalid credentials")
        << json::serialize(body);
  }
  EXPECT_EQ(Run(&Auth::CreateAuthenticationTokens, {}).status.ToString(),
            "Unauthenticated: Must login");
  EXPECT_EQ(AuthError("", {{"operation", "create_authentication_tokens"}, {"username", "tok"}}),
            "Unauthenticated: invalid credentials");

  // A dropped user's token no longer works.
  ASSERT_TRUE(Run(&Auth::DropUser, {{"username", "tok"}}, Admin()).status.ok());
  EXPECT_EQ(AuthError("Bearer " + op_token), "Unauthenticated: invalid token");
}

TEST_F(AuthTest, TablePermissions) {
  CreateTable("dev", "dog");
  CreateTable("dev", "cat");
  AddRole("dogreader", {{"super_user", false},
                        {"dev", {{"tables", {{"dog", TablePerm(true, true, false, false)}}}}}});
  AddUser("reader", "dogreader");
  auto who = auth_->Authenticate(Basic("reader:pw"), "10.0.0.1", {});
  ASSERT_TRUE(who.ok());
  Caller reader = *who;
  EXPECT_FALSE(reader.super_user);

  EXPECT_FALSE(auth_->CheckTableAccess(reader, "dev", "dog", {TableAccess::kRead}));
  EXPECT_FALSE(auth_->CheckTableAccess(reader, "dev", "dog", {TableAccess::kInsert}));

  auto denied =
      auth_->CheckTableAccess(reader, "dev", "dog", {TableAccess::kInsert, TableAccess::kUpdate});
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status.ToString(), std::string("PermissionDenied: ") + kNotAuthorized);
  EXPECT_EQ(
      json::serialize(denied->body),
      R"({"unauthorized_access":[{"schema":"dev","table":"dog","required_table_permissions":["update"],)"
      R"("required_attribute_permissions":[]}],"invalid_schema_items":[]})");

  auto missing = auth_->CheckTableAccess(reader, "dev", "cat", {TableAccess::kRead});
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->status.IsPermissionDenied());
  EXPECT_EQ(
      json::serialize(missing->body),
      R"({"unauthorized_access":[],"invalid_schema_items":["Table 'dev.cat' does not exist"]})");
  auto unknown = auth_->CheckTableAccess(reader, "dev", "nosuch", {TableAccess::kRead});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(json::serialize(unknown->body.at("invalid_schema_items")),
            R"(["Table 'dev.nosuch' does not exist"])");

  // System tables: nothing for non-super users; super_user writes only hdb_nodes/role/user.
  auto system_read = auth_->CheckTableAccess(reader, "system", "hdb_user", {TableAccess::kRead});
  ASSERT_TRUE(system_read);
  EXPECT_EQ(json::serialize(
                system_read->body.at("unauthorized_access").at(0).at("required_table_permissions")),
            R"(["read"])");
  Caller admin = Admin();
  EXPECT_FALSE(auth_->CheckTableAccess(admin, "dev", "cat", {TableAccess::kDelete}));
  EXPECT_FALSE(auth_->CheckTableAccess(admin, "system", "hdb_info", {TableAccess::kRead}));
  EXPECT_FALSE(auth_->CheckTableAccess(admin, "system", "hdb_nodes", {TableAccess::kInsert}));
  auto info_write = auth_->CheckTableAccess(admin, "system", "hdb_info", {TableAccess::kInsert});
  ASSERT_TRUE(info_write);
  EXPECT_EQ(
      json::serialize(info_write->body),
      R"({"unauthorized_access":[{"schema":"system","table":"hdb_info","required_table_permissions":["insert"],)"
      R"("required_attribute_permissions":[]}],"invalid_schema_items":[]})");

  EXPECT_TRUE(auth_->CanDescribe(reader, "dev", "dog"));
  EXPECT_FALSE(auth_->CanDescribe(reader, "dev", "cat"));
  EXPECT_FALSE(auth_->CanDescribe(reader, "system", "hdb_user"));
  EXPECT_TRUE(auth_->CanDescribe(admin, "system", "hdb_user"));
}

TEST_F(AuthTest, RoleHandlers) {
  CreateTable("dev", "dog");
  Caller admin = Admin();
  json::object perm{{"super_user", false},
                    {"dev", {{"tables", {{"dog", TablePerm(true, false, false, false)}}}}}};
  OpResult r = Run(&Auth::AddRole, {{"role", "developer"}, {"permission", perm}}, admin);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString() << json::serialize(r.body);
  EXPECT_EQ(r.body.at("id"), "developer");
  EXPECT_EQ(r.body.at("role"), "developer");
  EXPECT_EQ(json::serialize(r.body.at("permission")), json::serialize(perm));
  EXPECT_TRUE(r.body.at("__createdtime__").is_number());

  r = Run(&Auth::AddRole, {{"role", "developer"}, {"permission", perm}}, admin);
  EXPECT_EQ(r.status.ToString(), "Conflict: A role with name 'developer' already exists");

  auto main_errors = [&](json::object body) {
    OpResult res = Run(&Auth::AddRole, std::move(body), admin);
    EXPECT_EQ(res.status.ToString(),
              "InvalidArgument: Errors in the role permissions JSON provided");
    return res.body.is_object() ? json::serialize(res.body.at("main_permissions"))
                                : std::string("null");
  };
  EXPECT_EQ(main_errors({{"permission", perm}}), R"(["Role can't be blank"])");
  EXPECT_EQ(main_errors({{"role", "r1"}}), R"(["Permission can't be blank"])");
  EXPECT_EQ(main_errors(
                {{"role", "r2"}, {"permission", {{"super_user", true}, {"dev", perm.at("dev")}}}}),
            R"(["Roles with 'super_user' set to true cannot have other permissions set."])");
  EXPECT_EQ(
      main_errors({{"role", "r3"},
                   {"permission",
                    {{"dev", {{"tables", {{"nosuch", TablePerm(true, false, false, false)}}}}}}}}),
      R"(["Table 'dev.nosuch' does not exist"])");
  EXPECT_EQ(main_errors({{"role", "r4"}, {"permission", {{"super_user", "yes"}}}}),
            R"(["Value for 'super_user' permission must be a boolean"])");

  // alter_role replaces the permission.
  json::object new_perm{{"super_user", false},
                        {"dev", {{"tables", {{"dog", TablePerm(true, true, false, false)}}}}}};
  r = Run(&Auth::AlterRole, {{"id", "developer"}, {"role", "developer"}, {"permission", new_perm}},
          admin);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString() << json::serialize(r.body);
  EXPECT_EQ(json::serialize(r.body.at("permission")), json::serialize(new_perm));
  r = Run(&Auth::ListRoles, {}, admin);
  bool found = false;
  for (const json::value& role : r.body.as_array()) {
    if (role.at("role") == "developer") {
      found = true;
      EXPECT_EQ(json::serialize(role.at("permission")), json::serialize(new_perm));
    }
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(Run(&Auth::AlterRole, {{"id", "nosuch"}, {"permission", new_perm}}, admin)
                  .status.IsNotFound());

  // drop_role refuses while a user has the role.
  AddUser("dev1", "developer");
  r = Run(&Auth::DropRole, {{"id", "developer"}}, admin);
  EXPECT_TRUE(r.status.IsConflict()) << r.status.ToString();
  ASSERT_TRUE(Run(&Auth::DropUser, {{"username", "dev1"}}, admin).status.ok());
  r = Run(&Auth::DropRole, {{"id", "developer"}}, admin);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(json::serialize(r.body), R"({"message":"developer successfully deleted"})");
  EXPECT_TRUE(Run(&Auth::DropRole, {{"id", "developer"}}, admin).status.IsNotFound());
}

}  // namespace
}  // namespace meshdb::ops
