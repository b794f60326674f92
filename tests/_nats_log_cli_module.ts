// The workflow module of the CLI `--nats` test: the failover workflow.
import { failoverWorkflow } from "./_nats_failover_workflow.ts";

export default failoverWorkflow();
