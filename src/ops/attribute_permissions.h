// HarperDB's attribute-level permissions. A role's entry for a table may list
// attribute_permissions: [{attribute_name, read, insert, update}]. With an empty or absent
// list the table-level flags apply to every attribute. With a list:
//   - an attribute the list does not name has no permission at all;
//   - the primary key has a permission when any listed attribute has it;
//   - __createdtime__ and __updatedtime__ can be read when any attribute can, and never stop a
//     write (the store stamps them);
//   - a read naming an attribute without read (get_attributes, a search attribute, a sort)
//     is refused with 403; `*` and SQL's `SELECT *` return the readable attributes only;
//   - a write carrying an attribute without the permission it needs is refused with 403.
// The 403 body is HarperDB's: unauthorized_access [{schema, table,
// required_table_permissions: [], required_attribute_permissions: [{attribute_name,
// required_permissions: [...]}]}]. Table-level checks (Auth::CheckTableAccess) come first.
//
// Thread-safety: immutable after For().
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ops/auth.h"
#include "ops/operations.h"
#include "storage/store.h"

namespace meshdb::ops {

class AttributePermissions {
 public:
  // nullopt when `caller` is a super_user or its role lists no attribute permissions for the
  // table `def`: then only the table-level permissions apply.
  static std::optional<AttributePermissions> For(const Caller& caller,
                                                 const storage::TableDef& def);

  [[nodiscard]] bool Allows(std::string_view attribute, TableAccess access) const;
  // The listed attributes with read, insert or update (what describe_* shows).
  [[nodiscard]] std::vector<std::string> Visible() const;

  // nullopt when every attribute of every record in `records` has each of `needed`;
  // otherwise the 403 naming each attribute that lacks one (once, in order of appearance).
  [[nodiscard]] std::optional<OpResult> CheckRecords(
      const boost::json::array& records, std::initializer_list<TableAccess> needed) const;
  // CheckRecords with what a write of `kind` needs: insert, update, or both for an upsert
  // (a delete needs none).
  [[nodiscard]] std::optional<OpResult> CheckWrite(storage::WriteKind kind,
                                                   const boost::json::array& records) const;
  // nullopt when `caller` may read every attribute of `names` ("*" stands for the readable
  // ones); otherwise the 403.
  [[nodiscard]] std::optional<OpResult> CheckRead(const std::vector<std::string>& names) const;
  // Removes the attributes that cannot be read from every object of `rows` (an array of
  // records, as the searches answer); anything else is left as it is.
  void FilterRows(boost::json::value& rows) const;

 private:
  // `missing`: attribute name -> the permissions it lacks, in order of first appearance.
  [[nodiscard]] OpResult Denied(
      const std::vector<std::pair<std::string, std::set<TableAccess>>>& missing) const;

  std::string database_;
  std::string table_;
  std::string primary_key_;
  std::map<std::string, std::set<TableAccess>, std::less<>> granted_;
  std::set<TableAccess> any_;  // granted to at least one listed attribute
};

// The attributes a search request names for reading: get_attributes, search_attribute (or
// attribute), every condition's search_attribute (nested groups included) and the sort chain.
std::vector<std::string> AttributesReadBy(const boost::json::object& body);

}  // namespace meshdb::ops
