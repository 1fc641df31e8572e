// Operation handlers, one function per operation, grouped by file: schema_ops.cc,
// record_ops.cc, search_ops.cc, sql_ops.cc, certificate_ops.cc, system_ops.cc. User/role/token
// handlers are methods of Auth (auth.h). The dispatcher (dispatcher.cc) authenticates, checks
// permissions and calls these; handlers validate their own fields.
#pragma once

#include "ops/op_context.h"

namespace meshdb::ops {

// schema_ops.cc
void CreateDatabase(OpCall call);
void DropDatabase(OpCall call);
void CreateTable(OpCall call);
void DropTable(OpCall call);
void CreateAttribute(OpCall call);
void DescribeAll(OpCall call);
void DescribeDatabase(OpCall call);
void DescribeTable(OpCall call);

// record_ops.cc
void Insert(OpCall call);
void Update(OpCall call);
void Upsert(OpCall call);
void Delete(OpCall call);

// search_ops.cc
void SearchById(OpCall call);
void SearchByValue(OpCall call);
void SearchByConditions(OpCall call);

// sql_ops.cc
void Sql(OpCall call);

// certificate_ops.cc
void AddCertificate(OpCall call);
void ListCertificates(OpCall call);
void RemoveCertificate(OpCall call);

// system_ops.cc
void SystemInformation(OpCall call);
void GetConfiguration(OpCall call);
void SetConfiguration(OpCall call);
void ReadLog(OpCall call);
void Restart(OpCall call);

}  // namespace meshdb::ops
