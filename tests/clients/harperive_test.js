// harperive (HarperDB's npm client, 2.0.1, unchanged) against a meshdb node: the calls a
// HarperDB application makes, SQL and a CSV job included. Driven by
// tests/integration/test_harperive.py, which starts the node and passes DB_HOST, DB_USER and
// DB_PASS. Exits non-zero with the failing step on any difference.
'use strict';

const assert = require('node:assert/strict');
const harperive = require('harperive');

const client = new harperive.Client({
  harperHost: process.env.DB_HOST,
  username: process.env.DB_USER,
  password: process.env.DB_PASS,
  schema: 'dev',
});

async function waitForJob(jobId) {
  const deadline = Date.now() + 30000;
  for (;;) {
    const res = await client.getJobDetails({ jobId });
    const job = res.data[0];
    if (job && job.status !== 'IN_PROGRESS') return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not end`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const steps = [
  ['createSchema', async () => {
    const res = await client.createSchema({ schema: 'dev' });
    assert.equal(res.statusCode, 200);
  }],
  ['createTable', async () => {
    const res = await client.createTable({ table: 'dog', hashAttribute: 'id' });
    assert.equal(res.statusCode, 200);
    assert.match(res.data.message, /successfully created/);
  }],
  ['insert', async () => {
    const res = await client.insert({
      table: 'dog',
      records: [{ id: 1, name: 'Penny', age: 5 }, { id: 2, name: 'Harper', age: 3 }],
    });
    assert.deepEqual(res.data.inserted_hashes, [1, 2]);
  }],
  ['searchByValue', async () => {
    const res = await client.searchByValue({
      table: 'dog', searchAttribute: 'name', searchValue: 'Penny', attributes: ['id', 'age'],
    });
    assert.deepEqual(res.data, [{ id: 1, age: 5 }]);
  }],
  ['searchByHash', async () => {
    const res = await client.searchByHash({ table: 'dog', hashValues: [2], attributes: ['name'] });
    assert.deepEqual(res.data, [{ name: 'Harper' }]);
  }],
  ['update', async () => {
    const res = await client.update({ table: 'dog', records: [{ id: 2, age: 4 }] });
    assert.deepEqual(res.data.update_hashes, [2]);
  }],
  ['query (SQL select)', async () => {
    const res = await client.query('SELECT id, name, age FROM dev.dog WHERE age > 3 ORDER BY id');
    assert.deepEqual(res.data, [{ id: 1, name: 'Penny', age: 5 }, { id: 2, name: 'Harper', age: 4 }]);
  }],
  ['query (SQL insert)', async () => {
    const res = await client.query("INSERT INTO dev.dog (id, name, age) VALUES (3, 'Rex', 7)");
    assert.deepEqual(res.data.inserted_hashes, [3]);
  }],
  ['query (SQL count)', async () => {
    const res = await client.query('SELECT COUNT(*) AS n FROM dev.dog');
    assert.deepEqual(res.data, [{ n: 3 }]);
  }],
  ['csvDataLoad + getJobDetails', async () => {
    const res = await client.csvDataLoad({ table: 'dog', data: 'id,name,age\n4,Ace,2\n5,"Fido, Jr",1\n' });
    assert.match(res.data.message, /^Starting job with id /);
    const job = await waitForJob(res.data.job_id);
    assert.equal(job.status, 'COMPLETE');
    assert.equal(job.message, 'successfully loaded 2 of 2 records');
  }],
  ['describeAll', async () => {
    const res = await client.describeAll();
    assert.equal(res.data.dev.dog.record_count, 5);
  }],
  ['delete', async () => {
    const res = await client.delete({ table: 'dog', hashValues: [5] });
    assert.deepEqual(res.data.deleted_hashes, [5]);
  }],
  ['an error reaches the caller', async () => {
    await assert.rejects(client.query('SELEC nonsense'), (err) => err.statusCode >= 400);
  }],
];

(async () => {
  for (const [name, step] of steps) {
    try {
      await step();
      console.log(`ok   ${name}`);
    } catch (err) {
      console.log(`FAIL ${name}: ${err && err.stack ? err.stack : JSON.stringify(err)}`);
      process.exit(1);
    }
  }
})();
