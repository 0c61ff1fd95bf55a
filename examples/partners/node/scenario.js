// An aggregator's client in Node.js, built from the partner kit alone (dist/partner-kit):
// register chargers, upload telemetry, read notifications and resume them from a cursor,
// bid, and decode the error details of refused calls. tests/partners runs it against a
// live platform over mutual TLS; docs/PARTNERS.md quotes it.
//
// Environment: VGI_KIT (kit folder), VGI_TARGET (host:port), VGI_CA, VGI_CERT, VGI_KEY
// (PEM files), VGI_TOKEN (bearer token), VGI_AGGREGATOR (id), VGI_EVENT (`events/{event}`),
// VGI_GRID_NODE (`gridNodes/{node}`), VGI_SLOT_START (RFC 3339 start of the event's first slot).
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const crypto = require("node:crypto");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const KIT = env("VGI_KIT");

// --- load the contracts from the kit's descriptor set ---
const descriptorSet = fs.readFileSync(path.join(KIT, "vgi.binpb"));
const definition = protoLoader.loadFileDescriptorSetFromBuffer(descriptorSet, {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
});
const vgi = grpc.loadPackageDefinition(definition).vgi;
// --- end load ---

// --- error details ---
// google.rpc.Status travels in the grpc-status-details-bin trailer; its details are Any.
const rpcTypes = new protobuf.Root().loadSync(
  ["google/rpc/status.proto", "google/rpc/error_details.proto"].map((f) => path.join(KIT, "proto", f)),
  { keepCase: true },
);
function errorDetails(err) {
  const [bytes] = err.metadata.get("grpc-status-details-bin");
  if (!bytes) return {};
  return statusDetails(rpcTypes.lookupType("google.rpc.Status").decode(bytes));
}
// The same for a google.rpc.Status inside a response (a rejected telemetry batch's `error`).
function statusDetails(status) {
  const details = {};
  for (const any of status.details) {
    const typeName = any.type_url.split("/").pop(); // e.g. google.rpc.ErrorInfo
    details[typeName] = rpcTypes.lookupType(typeName).toObject(
      rpcTypes.lookupType(typeName).decode(any.value), { longs: String, enums: String },
    );
  }
  return details;
}
// --- end error details ---

// --- channel ---
const tls = grpc.credentials.createSsl(
  fs.readFileSync(env("VGI_CA")), fs.readFileSync(env("VGI_KEY")), fs.readFileSync(env("VGI_CERT")),
);
const bearer = grpc.credentials.createFromMetadataGenerator((_, callback) => {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${env("VGI_TOKEN")}`);
  callback(null, metadata);
});
const aggregator = new vgi.aggregator.v1.AggregatorService(
  env("VGI_TARGET"), grpc.credentials.combineChannelCredentials(tls, bearer),
);
// --- end channel ---

const call = (method, request) =>
  new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 30_000);
    aggregator[method](request, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
const refused = async (method, request) => {
  try {
    await call(method, request);
  } catch (err) {
    return err;
  }
  throw new Error(`${method} was expected to fail`);
};
const ts = (date) => ({ seconds: String(Math.floor(date.getTime() / 1000)), nanos: 0 });
const check = (condition, message) => {
  if (!condition) throw new Error(message);
};

// Reads `count` items from a notification stream opened after `cursor`, then cancels it.
function readNotifications(cursor, count) {
  return new Promise((resolve, reject) => {
    const items = [];
    const stream = aggregator.StreamNotifications({ after_sequence: String(cursor) });
    const timer = setTimeout(() => {
      stream.cancel();
      reject(new Error(`only ${items.length} of ${count} notifications in 60 s`));
    }, 60_000);
    stream.on("data", (response) => {
      items.push(response.notification);
      if (items.length === count) {
        clearTimeout(timer);
        stream.cancel();
        resolve(items);
      }
    });
    stream.on("error", (err) => {
      if (err.code !== grpc.status.CANCELLED) {
        clearTimeout(timer);
        reject(err);
      }
    });
  });
}

async function main() {
  const me = env("VGI_AGGREGATOR");
  const event = env("VGI_EVENT");
  let steps = 0;
  const step = (name, detail) => console.log(`node step ${++steps}: ${name} — ${detail}`);

  await call("BatchUpsertStations", {
    request_id: crypto.randomUUID(),
    stations: [{ station_id: "st-node", grid_node: env("VGI_GRID_NODE"), import_limit_w: 120000 }],
  });
  step("BatchUpsertStations", "station st-node");

  const chargers = ["node-ch-1", "node-ch-2"];
  await call("BatchUpsertChargers", {
    request_id: crypto.randomUUID(),
    chargers: chargers.map((id) => ({
      charger_id: id, station_id: "st-node", kind: "CHARGER_KIND_AC", rated_charge_w: 7000,
    })),
  });
  const listed = await call("ListChargers", { page_size: 10, station_id: "st-node" });
  check(listed.chargers.length === 2, `ListChargers gave ${listed.chargers.length}`);
  step("BatchUpsertChargers", `${listed.chargers.map((c) => c.name).join(", ")}`);

  // --- telemetry ---
  const upload = aggregator.UploadTelemetry();
  const acks = [];
  const done = new Promise((resolve, reject) => {
    upload.on("data", (ack) => acks.push(ack));
    upload.on("end", resolve);
    upload.on("error", reject);
  });
  const batch = (ids) => ({
    batch: {
      batch_id: crypto.randomUUID(),
      meter_values: ids.map((id) => ({
        charger_id: id, sample_time: ts(new Date(Date.now() - 60_000)), power_w: 3500,
        energy_register_wh: 1000, status: "CHARGER_STATUS_CHARGING",
      })),
    },
  });
  upload.write(batch(chargers));
  upload.write(batch(["not-my-charger"])); // rejected on its own; the stream goes on
  upload.end();
  await done;
  for (const ack of acks) {
    // ack.result: TELEMETRY_BATCH_RESULT_ACCEPTED | _DUPLICATE | _REJECTED (then ack.error is a google.rpc.Status)
    if (ack.result === "TELEMETRY_BATCH_RESULT_REJECTED") ack.details = statusDetails(ack.error);
  }
  // --- end telemetry ---
  check(acks.length === 2 && Number(acks[0].stored_points) === 2, `acks ${JSON.stringify(acks)}`);
  check(acks[0].result === "TELEMETRY_BATCH_RESULT_ACCEPTED", `first batch ${acks[0].result}`);
  check(acks[1].result === "TELEMETRY_BATCH_RESULT_REJECTED", `second batch ${acks[1].result}`);
  step("UploadTelemetry", `batch 1 ${acks[0].result} (${acks[0].stored_points} points), batch 2 ${acks[1].result} ${acks[1].details["google.rpc.ErrorInfo"].reason}`);

  // --- notifications ---
  const [first, second] = await readNotifications(0, 2);
  await call("AckNotifications", { request_id: crypto.randomUUID(), up_to_sequence: first.sequence });
  const [resumed] = await readNotifications(first.sequence, 1);
  // --- end notifications ---
  check(resumed.notification_id === second.notification_id, "the resumed stream did not start after the cursor");
  step("StreamNotifications", `got #${first.sequence} (${first.payload}) and #${second.sequence}, acked #${first.sequence}`);
  step("StreamNotifications resumed", `after #${first.sequence} the first item is #${resumed.sequence}`);

  const slotStart = new Date(env("VGI_SLOT_START"));
  const bid = await call("SubmitBid", {
    request_id: crypto.randomUUID(),
    parent: event,
    bid: { slots: [{ slot_start_time: ts(slotStart), capacity_w: 30000, price: { currency_code: "CNY", units: 0, nanos: 450000000 } }] },
  });
  check(bid.bid.state === "BID_STATE_SUBMITTED", `bid state ${bid.bid.state}`);
  step("SubmitBid", `${bid.bid.name} ${bid.bid.state}`);

  // --- bad request ---
  const invalid = await refused("SubmitBid", { request_id: "not-a-uuid", parent: event, bid: { slots: [] } });
  const details = errorDetails(invalid);
  // details["google.rpc.ErrorInfo"].reason, details["google.rpc.BadRequest"].field_violations[].field
  // --- end bad request ---
  check(invalid.code === grpc.status.INVALID_ARGUMENT, `code ${invalid.code}`);
  const fields = details["google.rpc.BadRequest"].field_violations.map((v) => v.field);
  check(fields.includes("request_id"), `violations ${fields}`);
  step("ErrorInfo + BadRequest", `INVALID_ARGUMENT ${details["google.rpc.ErrorInfo"].reason} (${details["google.rpc.ErrorInfo"].domain}), fields ${fields.join(", ")}`);

  let limited;
  for (let i = 0; i < 50 && !limited; i++) {
    try {
      await call("GetBid", { name: `${event}/bids/${me}` });
    } catch (err) {
      limited = err;
    }
  }
  check(limited && limited.code === grpc.status.RESOURCE_EXHAUSTED, `no RESOURCE_EXHAUSTED: ${limited}`);
  const retry = errorDetails(limited)["google.rpc.RetryInfo"];
  const delay = Number(retry.retry_delay.seconds) + retry.retry_delay.nanos / 1e9;
  check(delay > 0, "RetryInfo without a delay");
  step("RetryInfo", `RESOURCE_EXHAUSTED ${errorDetails(limited)["google.rpc.ErrorInfo"].reason}, retry after ${delay.toFixed(3)} s`);

  console.log(`node scenario: ${steps} steps passed`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`node scenario failed: ${err.stack || err}`);
    process.exit(1);
  },
);
