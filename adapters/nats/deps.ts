// npm packages of the NATS adapter, by full `npm:` specifier, kept in one
// place (see src/deps.ts): a URL importer has no import map.
export {
  connect,
  ConnectionError,
  credsAuthenticator,
  errors as natsErrors,
  headers,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type NodeConnectionOptions,
  type Subscription,
  TimeoutError as NatsTimeoutError,
} from "npm:@nats-io/transport-node@^3.4.0";
export {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
  type PubAck,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "npm:@nats-io/jetstream@^3.4.0";
export { type KV, type KvEntry, Kvm } from "npm:@nats-io/kv@^3.4.0";
