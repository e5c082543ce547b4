"""Every attribute, metric, event and environment-variable name driftline uses.

GENERATED from semconv/registry.yaml by ``python -m driftline.semconv.generate``: do not edit.
"""

from __future__ import annotations

# typing is not imported at run time: zero-code activation reads this module at interpreter
# start, where importing typing alone costs ~10 ms. Type checkers honour this constant.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

# --- attributes --------------------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = 'gen_ai.operation.name'
"""The operation being performed (chat, embeddings, generate_content, execute_tool, ...)."""
GEN_AI_PROVIDER_NAME: Final = 'gen_ai.provider.name'
"""The GenAI provider as identified by the client instrumentation (replaces gen_ai.system)."""
GEN_AI_CONVERSATION_ID: Final = 'gen_ai.conversation.id'
"""Identifier of the conversation (session/thread) when the provider exposes one."""
GEN_AI_OUTPUT_TYPE: Final = 'gen_ai.output.type'
"""The content type requested from the model (text, json, image, speech)."""
ERROR_TYPE: Final = 'error.type'
"""Class of error the operation ended with (the exception's qualified class name or an HTTP status code)."""
SERVER_ADDRESS: Final = 'server.address'
"""GenAI server host name or IP address."""
SERVER_PORT: Final = 'server.port'
"""GenAI server port (set when server.address is set)."""
GEN_AI_REQUEST_MODEL: Final = 'gen_ai.request.model'
"""The model name the request asked for."""
GEN_AI_REQUEST_MAX_TOKENS: Final = 'gen_ai.request.max_tokens'
"""Maximum number of tokens the model may generate."""
GEN_AI_REQUEST_TEMPERATURE: Final = 'gen_ai.request.temperature'
"""Sampling temperature."""
GEN_AI_REQUEST_TOP_P: Final = 'gen_ai.request.top_p'
"""Nucleus sampling parameter."""
GEN_AI_REQUEST_TOP_K: Final = 'gen_ai.request.top_k'
"""Top-k sampling parameter."""
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = 'gen_ai.request.frequency_penalty'
"""Frequency penalty."""
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = 'gen_ai.request.presence_penalty'
"""Presence penalty."""
GEN_AI_REQUEST_STOP_SEQUENCES: Final = 'gen_ai.request.stop_sequences'
"""Sequences at which the model stops generating."""
GEN_AI_REQUEST_SEED: Final = 'gen_ai.request.seed'
"""Seed requested for deterministic sampling."""
GEN_AI_REQUEST_CHOICE_COUNT: Final = 'gen_ai.request.choice.count'
"""Number of candidate completions requested (set only when not 1)."""
GEN_AI_REQUEST_STREAM: Final = 'gen_ai.request.stream'
"""Whether the response was requested as a stream."""
GEN_AI_REQUEST_ENCODING_FORMATS: Final = 'gen_ai.request.encoding_formats'
"""Encoding formats requested for an embeddings operation."""
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = 'gen_ai.embeddings.dimension.count'
"""Number of dimensions of the returned embeddings."""
GEN_AI_RESPONSE_ID: Final = 'gen_ai.response.id'
"""Unique identifier of the completion."""
GEN_AI_RESPONSE_MODEL: Final = 'gen_ai.response.model'
"""The model that actually generated the response."""
GEN_AI_RESPONSE_FINISH_REASONS: Final = 'gen_ai.response.finish_reasons'
"""Why the model stopped, one entry per choice."""
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = 'gen_ai.response.time_to_first_chunk'
"""Seconds from issuing a streamed request to receiving its first chunk."""
GEN_AI_USAGE_INPUT_TOKENS: Final = 'gen_ai.usage.input_tokens'
"""Tokens in the prompt (as billed by the provider; includes cached tokens)."""
GEN_AI_USAGE_OUTPUT_TOKENS: Final = 'gen_ai.usage.output_tokens'
"""Tokens in the response."""
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = 'gen_ai.usage.cache_read.input_tokens'
"""Input tokens served from the provider's prompt cache."""
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = 'gen_ai.usage.cache_creation.input_tokens'
"""Input tokens written to the provider's prompt cache."""
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = 'gen_ai.usage.reasoning.output_tokens'
"""Output tokens spent on reasoning (part of gen_ai.usage.output_tokens)."""
GEN_AI_INPUT_MESSAGES: Final = 'gen_ai.input.messages'
"""Chat history sent to the model, JSON in the conventions' input-messages schema. Opt-in."""
GEN_AI_OUTPUT_MESSAGES: Final = 'gen_ai.output.messages'
"""Messages returned by the model, JSON in the conventions' output-messages schema. Opt-in."""
GEN_AI_SYSTEM_INSTRUCTIONS: Final = 'gen_ai.system_instructions'
"""System instructions sent separately from the chat history, JSON list of parts. Opt-in."""
GEN_AI_TOOL_DEFINITIONS: Final = 'gen_ai.tool.definitions'
"""Tools offered to the model, JSON list of definitions. Opt-in (may be large)."""
GEN_AI_TOKEN_TYPE: Final = 'gen_ai.token.type'
"""Which tokens a gen_ai.client.token.usage measurement counts (input or output)."""
DRIFTLINE_CONTENT_TRUNCATED: Final = 'driftline.content.truncated'
"""True when captured content was cut to DRIFTLINE_CONTENT_MAX_LENGTH; each cut text also ends with a marker."""
DRIFTLINE_CONTENT_REDACTED: Final = 'driftline.content.redacted'
"""Number of PII matches replaced in captured content (absent when zero)."""
DRIFTLINE_RESPONSE_TOOL_CALL_COUNT: Final = 'driftline.response.tool_call.count'
"""Tool calls the model asked for in its response; recorded without content capture so agents' behaviour is visible by default."""
DRIFTLINE_RESPONSE_OUTPUT_LENGTH: Final = 'driftline.response.output_length'
"""Characters of text the model returned (all choices); recorded without content capture, feeds output-length drift."""
DRIFTLINE_STREAM_END_REASON: Final = 'driftline.stream.end_reason'
"""How a streamed call's span ended (completed, closed, error, cancelled, garbage_collected)."""
DRIFTLINE_STREAM_CHUNK_COUNT: Final = 'driftline.stream.chunk.count'
"""Chunks (SSE events) received for a streamed call."""
GEN_AI_AGENT_ID: Final = 'gen_ai.agent.id'
"""The unique identifier of the GenAI agent."""
GEN_AI_AGENT_NAME: Final = 'gen_ai.agent.name'
"""Human-readable name of the GenAI agent (span name invoke_agent {gen_ai.agent.name})."""
GEN_AI_AGENT_DESCRIPTION: Final = 'gen_ai.agent.description'
"""Free-form description of the GenAI agent."""
GEN_AI_AGENT_VERSION: Final = 'gen_ai.agent.version'
"""The version of the GenAI agent."""
GEN_AI_WORKFLOW_NAME: Final = 'gen_ai.workflow.name'
"""Name of the workflow (span name invoke_workflow {gen_ai.workflow.name})."""
GEN_AI_TOOL_NAME: Final = 'gen_ai.tool.name'
"""Name of the tool utilized by the agent (span name execute_tool {gen_ai.tool.name})."""
GEN_AI_TOOL_CALL_ID: Final = 'gen_ai.tool.call.id'
"""The tool call identifier (from the model's tool call when there is one)."""
GEN_AI_TOOL_TYPE: Final = 'gen_ai.tool.type'
"""Type of the tool: function (runs in the client), extension (runs on an agent-side service), datastore."""
GEN_AI_TOOL_DESCRIPTION: Final = 'gen_ai.tool.description'
"""The tool description."""
GEN_AI_TOOL_CALL_ARGUMENTS: Final = 'gen_ai.tool.call.arguments'
"""The arguments of the tool call, JSON-encoded; opt-in content (recorded only under the content policy)."""
GEN_AI_TOOL_CALL_RESULT: Final = 'gen_ai.tool.call.result'
"""The result of the tool call, JSON-encoded; opt-in content (recorded only under the content policy)."""
GEN_AI_DATA_SOURCE_ID: Final = 'gen_ai.data_source.id'
"""The data source identifier (for retrieval and datastore tools)."""
DRIFTLINE_INVOCATION_ARGUMENTS: Final = 'driftline.invocation.arguments'
"""JSON of the arguments passed to a function decorated with @agent or @workflow (self excluded); opt-in content, redacted and cut like prompts."""
DRIFTLINE_INVOCATION_RESULT: Final = 'driftline.invocation.result'
"""JSON of what a function decorated with @agent or @workflow returned (a JSON list of the items a generator yielded); opt-in content."""
DRIFTLINE_DRIFT_DETECTED: Final = 'driftline.drift.detected'
"""Span enrichment: whether drift was flagged for this span's model (service, model, version) when the processor handled the span."""
DRIFTLINE_DRIFT_SIGNALS: Final = 'driftline.drift.signals'
"""Span enrichment: the signals flagged as drifted for this span's model at that moment (signal names as in the driftline.drift.signal metric attribute)."""
DRIFTLINE_ALERT_RULE: Final = 'driftline.alert.rule'
"""Alert log record attribute: the name of the rule that fired (or resolved)."""
DRIFTLINE_ALERT_SEVERITY: Final = 'driftline.alert.severity'
"""Alert log record attribute: the rule's severity (info, warning, critical)."""
DRIFTLINE_ALERT_STATE: Final = 'driftline.alert.state'
"""Alert log record attribute: firing or resolved."""
DRIFTLINE_ALERT_METRIC: Final = 'driftline.alert.metric'
"""Alert log record attribute: the value the rule watches (drift.score, drift.detected, quality.value, performance.value)."""
DRIFTLINE_ALERT_VALUE: Final = 'driftline.alert.value'
"""Alert log record attribute: the watched value when the alert changed state."""
DRIFTLINE_ALERT_THRESHOLD: Final = 'driftline.alert.threshold'
"""Alert log record attribute: the threshold the value was compared with (for baseline-relative rules, baseline times factor)."""
DRIFTLINE_ALERT_TRACE_IDS: Final = 'driftline.alert.trace_ids'
"""Alert log record attribute: example trace ids (hex) of spans that contributed to the verdict."""
DRIFTLINE_EMBEDDING: Final = 'driftline.embedding'
"""Optional: an embedding vector describing the span's input (e.g. of the prompt, computed off the request path by the application); the processor tracks embedding drift on it (centroid distance and an MMD test)."""
DRIFTLINE_LANGCHAIN_RUN_TYPE: Final = 'driftline.langchain.run.type'
"""The kind of LangChain run behind the span (chain, prompt, parser, chat_model, llm, tool, retriever)."""
DRIFTLINE_LANGGRAPH_NODE: Final = 'driftline.langgraph.node'
"""The LangGraph node a run belongs to (from the run's langgraph_node metadata)."""
MCP_METHOD_NAME: Final = 'mcp.method.name'
"""The name of the MCP request or notification method."""
MCP_SESSION_ID: Final = 'mcp.session.id'
"""Identifies the MCP session (Streamable HTTP's Mcp-Session-Id), when the message is part of one."""
MCP_PROTOCOL_VERSION: Final = 'mcp.protocol.version'
"""The version of the Model Context Protocol negotiated for the session."""
MCP_RESOURCE_URI: Final = 'mcp.resource.uri'
"""The resource URI of resources/read, resources/subscribe and resources/unsubscribe (never in span names)."""
GEN_AI_PROMPT_NAME: Final = 'gen_ai.prompt.name'
"""The name of the prompt or prompt template (MCP prompts/get)."""
JSONRPC_REQUEST_ID: Final = 'jsonrpc.request.id'
"""String form of the JSON-RPC id of the request and its response (not set for notifications)."""
RPC_RESPONSE_STATUS_CODE: Final = 'rpc.response.status_code'
"""The error code of a JSON-RPC error response, as a string."""
NETWORK_TRANSPORT: Final = 'network.transport'
"""Transport of the MCP session (pipe for stdio, tcp for Streamable HTTP and SSE)."""
ML_OPERATION_NAME: Final = 'ml.operation.name'
"""The ML operation: predict (one model call, span predict {ml.model.name}) or feedback (ground truth for earlier predictions, span feedback {ml.model.name})."""
ML_MODEL_NAME: Final = 'ml.model.name'
"""Name of the model (default the estimator's class name; set_model_info or observe_model(name=...) override it). Drift state is kept per service and model name."""
ML_MODEL_VERSION: Final = 'ml.model.version'
"""Version of the model (registry version, git sha, training run id)."""
ML_MODEL_FRAMEWORK: Final = 'ml.model.framework'
"""The library the model runs in (the top-level package of its class for scikit-learn-API models)."""
ML_MODEL_TASK: Final = 'ml.model.task'
"""What the model predicts (classification, regression, clustering, outlier_detection, or any string given by the user)."""
ML_MODEL_TRAINING_DATA: Final = 'ml.model.training_data'
"""Optional reference to the training data (URI, dataset version or hash) for the audit trail; never the data itself."""
ML_MODEL_METHOD: Final = 'ml.model.method'
"""The model method that was called."""
ML_PREDICTION_ID: Final = 'ml.prediction.id'
"""Identifier of one prediction call (generated, or given by the caller). A row of a batch is identified by (ml.prediction.id, row index in the batch); feedback spans carry the same pair."""
ML_BATCH_SIZE: Final = 'ml.batch.size'
"""Number of input rows the call received."""
ML_BATCH_RECORDED_ROWS: Final = 'ml.batch.recorded_rows'
"""Number of rows whose features, predictions and scores are recorded on the span (at most DRIFTLINE_ML_MAX_ROWS, a uniform sample of the batch when it is larger)."""
ML_BATCH_ROW_INDICES: Final = 'ml.batch.row_indices'
"""Ascending 0-based positions in the batch of the recorded rows; present only when the batch was sampled (absent = rows 0 .. recorded_rows-1)."""
ML_FEATURE_TEMPLATE: Final = 'ml.feature.<name>'
"""Readable encoding (ml.features.encoding = attributes): one attribute per feature, the feature's values for the recorded rows in row order; double[] for numeric features (missing = NaN), string[] for categorical ones (missing = null)."""
ML_FEATURES_ENCODING: Final = 'ml.features.encoding'
"""How features are recorded: attributes (one ml.feature.<name> per feature), packed (ml.features.numeric.* / ml.features.categorical.* arrays), none (not captured: DRIFTLINE_ML_CAPTURE_FEATURES=false or an input driftline cannot read)."""
ML_FEATURES_COUNT: Final = 'ml.features.count'
"""Number of input features per row (whether or not their values are captured)."""
ML_FEATURES_NUMERIC_NAMES: Final = 'ml.features.numeric.names'
"""Packed encoding: names of the numeric features, in column order."""
ML_FEATURES_NUMERIC_VALUES: Final = 'ml.features.numeric.values'
"""Packed encoding: numeric feature values of the recorded rows, row-major (row r, feature j at r * len(names) + j); missing = NaN."""
ML_FEATURES_CATEGORICAL_NAMES: Final = 'ml.features.categorical.names'
"""Packed encoding: names of the categorical (non-numeric) features, in column order."""
ML_FEATURES_CATEGORICAL_VALUES: Final = 'ml.features.categorical.values'
"""Packed encoding: categorical feature values of the recorded rows as strings, row-major; missing = null; redacted and cut like captured content."""
ML_PREDICTION_VALUES: Final = 'ml.prediction.values'
"""Predictions for the recorded rows, row-major with ml.prediction.dimension values per row; double[] for numeric outputs, string[] for labels (missing = NaN / null). For predict_proba, predict_log_proba and decision_function the predicted class is derived from the scores."""
ML_PREDICTION_DIMENSION: Final = 'ml.prediction.dimension'
"""Values per row in ml.prediction.values for multi-output models (absent = 1)."""
ML_PREDICTION_SCORES: Final = 'ml.prediction.scores'
"""Scores of the recorded rows (probabilities, log-probabilities or decision values), row-major with len(ml.prediction.score_labels) values per row."""
ML_PREDICTION_SCORE_LABELS: Final = 'ml.prediction.score_labels'
"""What each score column is for (the class labels, as strings); a binary decision_function has one column, labelled with the positive class."""
ML_PREDICTION_SCORE_TYPE: Final = 'ml.prediction.score_type'
"""What the scores are."""
ML_FEEDBACK_LABELS: Final = 'ml.feedback.labels'
"""Feedback spans - the ground-truth labels, one per row in ml.feedback.rows (same encoding as ml.prediction.values)."""
ML_FEEDBACK_ROWS: Final = 'ml.feedback.rows'
"""Feedback spans - the batch rows of prediction ml.prediction.id the labels are for (0-based, as in ml.batch.row_indices)."""
DRIFTLINE_QUALITY_FLAGS: Final = 'driftline.quality.flags'
"""Span enrichment: the quality checks this span failed (error, truncated, empty, refusal, invalid_json, pii, token_spike, cost_unknown, latency_slo, tool_error, agent_loop, agent_too_many_steps)."""
DRIFTLINE_COST_USD: Final = 'driftline.cost.usd'
"""Span enrichment: the call's cost in US dollars from the token usage and the processor's versioned price table (absent when the model has no price: then driftline.quality.flags holds cost_unknown)."""
DRIFTLINE_COST_PRICE_VERSION: Final = 'driftline.cost.price_version'
"""Span enrichment: the version of the price table driftline.cost.usd was computed with."""
DRIFTLINE_INSTRUMENTATION_STEP: Final = 'driftline.instrumentation.step'
"""Which internal recording step failed (metric attribute of driftline.instrumentation.errors)."""
DRIFTLINE_LABEL_RECEIVER: Final = 'receiver'
"""Processor metric attribute: the receiver's component id (otlp, otlp/internal), as the Collector labels it."""
DRIFTLINE_LABEL_TRANSPORT: Final = 'transport'
"""Processor metric attribute: grpc or http."""
DRIFTLINE_LABEL_EXPORTER: Final = 'exporter'
"""Processor metric attribute: the exporter's component id."""
DRIFTLINE_LABEL_REASON: Final = 'reason'
"""Processor metric attribute: why data was refused or dropped."""
DRIFTLINE_LABEL_STAGE: Final = 'stage'
"""Processor metric attribute: the analysis hook that raised."""
SERVICE_NAME: Final = 'service.name'
"""OTel resource attribute: logical service name (the Prometheus job, with service.namespace)."""
SERVICE_NAMESPACE: Final = 'service.namespace'
"""OTel resource attribute: namespace of service.name (job = namespace/name)."""
SERVICE_INSTANCE_ID: Final = 'service.instance.id'
"""OTel resource attribute: the service instance (the Prometheus instance label)."""
PROMETHEUS_LABEL_JOB: Final = 'job'
"""Prometheus label the prometheus exporter sets from service.namespace/service.name."""
PROMETHEUS_LABEL_INSTANCE: Final = 'instance'
"""Prometheus label the prometheus exporter sets from service.instance.id."""
DRIFTLINE_DRIFT_SIGNAL: Final = 'driftline.drift.signal'
"""Metric attribute: the tracked signal: feature.<name>, prediction, prediction.score, or a span attribute name such as gen_ai.usage.output_tokens."""
DRIFTLINE_DRIFT_METHOD: Final = 'driftline.drift.method'
"""Metric attribute: the statistic or detector behind a drift value (psi, js, hellinger, ks, wasserstein, chi2, cusum)."""
DRIFTLINE_DRIFT_REFERENCE: Final = 'driftline.drift.reference'
"""Metric attribute: where the reference distribution came from: baseline (a profile file) or warmup (the first spans seen, frozen)."""
DRIFTLINE_MODEL_NAME: Final = 'driftline.model.name'
"""Metric attribute: whose signal: ml.model.name for model spans, gen_ai.request.model for LLM spans, gen_ai.agent.name for agent and tool spans."""
DRIFTLINE_MODEL_VERSION: Final = 'driftline.model.version'
"""Metric attribute: ml.model.version (or gen_ai.agent.version), empty when unknown."""
DRIFTLINE_MODEL_FAMILY: Final = 'driftline.model.family'
"""Metric attribute: ml (model spans), llm (GenAI client spans) or agent (agent and tool spans)."""
DRIFTLINE_SEGMENT: Final = 'driftline.segment'
"""Metric attribute: the segment a value belongs to, as attribute=value (the configured segment attributes), or the empty string for all traffic."""
DRIFTLINE_PERFORMANCE_METRIC: Final = 'driftline.performance.metric'
"""Metric attribute: which performance metric a driftline.model.performance value is: accuracy, precision, recall, f1 (binary for the positive label, macro-averaged for multiclass), roc_auc (binary, from binned scores), mae, rmse (regression), label_count (labelled rows in the rolling window)."""
DRIFTLINE_FAIRNESS_METRIC: Final = 'driftline.fairness.metric'
"""Metric attribute: which gap a driftline.fairness.gap value is: demographic_parity_difference (max minus min over segments of the positive-prediction rate) or equal_opportunity_difference (max minus min over segments of the true positive rate)."""
DRIFTLINE_FAIRNESS_ATTRIBUTE: Final = 'driftline.fairness.attribute'
"""Metric attribute: the segment attribute whose values are compared by a driftline.fairness.gap value (the part of driftline.segment before '=')."""
DRIFTLINE_QUALITY_CHECK: Final = 'driftline.quality.check'
"""Metric attribute: which quality value driftline.quality.value reports (a *_rate over the rolling window, latency_p50/p95/p99 in seconds, cost_per_call or cost_total in USD)."""
DRIFTLINE_QUALITY_FLAG: Final = 'driftline.quality.flag'
"""Metric attribute: the failed check counted by driftline.quality.flagged (a value of driftline.quality.flags)."""

# --- metrics -----------------------------------------------------------------------------------
GEN_AI_CLIENT_OPERATION_DURATION: Final = 'gen_ai.client.operation.duration'
"""Duration of a GenAI client operation, until the response (or stream) is complete."""
GEN_AI_CLIENT_TOKEN_USAGE: Final = 'gen_ai.client.token.usage'
"""Number of input and output tokens used, per operation (gen_ai.token.type tells which)."""
GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK: Final = 'gen_ai.client.operation.time_to_first_chunk'
"""Time from issuing a streamed request to receiving its first chunk. Streams only."""
DRIFTLINE_INSTRUMENTATION_ERRORS: Final = 'driftline.instrumentation.errors'
"""Faults inside driftline's own recording code, swallowed so the application never sees them (attribute driftline.instrumentation.step)."""
DRIFTLINE_RECEIVER_ACCEPTED_SPANS: Final = 'driftline.receiver.accepted_spans'
"""Spans a receiver accepted (answered with success) and handed to the pipeline (attributes receiver, transport). Collector: otelcol_receiver_accepted_spans."""
DRIFTLINE_RECEIVER_REFUSED_SPANS: Final = 'driftline.receiver.refused_spans'
"""Spans a receiver refused: malformed, too large, unauthenticated, or refused retryably under backpressure (attributes receiver, transport, reason). Collector: otelcol_receiver_refused_spans."""
DRIFTLINE_RECEIVER_FAILED_SPANS: Final = 'driftline.receiver.failed_spans'
"""Spans a receiver could not hand on because of an internal fault (attributes receiver, transport). Collector: otelcol_receiver_failed_spans."""
DRIFTLINE_RECEIVER_REFUSED_REQUESTS: Final = 'driftline.receiver.refused_requests'
"""Requests refused before their spans could be counted (unreadable body, bad media type, auth), by reason (attributes receiver, transport, reason)."""
DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT: Final = 'driftline.receiver.requests_in_flight'
"""Export requests being received or processed right now (attributes receiver, transport)."""
DRIFTLINE_RECEIVER_BYTES_IN_FLIGHT: Final = 'driftline.receiver.bytes_in_flight'
"""Decompressed request bytes admitted and not yet handed to the exporters' queues; bounded by the in-flight budget."""
DRIFTLINE_EXPORTER_SENT_SPANS: Final = 'driftline.exporter.sent_spans'
"""Spans an exporter delivered (the backend answered success; partially rejected spans are counted as send-failed) (attribute exporter). Collector: otelcol_exporter_sent_spans."""
DRIFTLINE_EXPORTER_SEND_FAILED_SPANS: Final = 'driftline.exporter.send_failed_spans'
"""Spans an exporter gave up on: permanent error, partial-success rejection, or retries past max_elapsed_time (attributes exporter, reason). Collector: otelcol_exporter_send_failed_spans."""
DRIFTLINE_EXPORTER_ENQUEUE_FAILED_SPANS: Final = 'driftline.exporter.enqueue_failed_spans'
"""Spans an exporter's sending queue could not take (attribute exporter). The receiver answers such requests retryably, so the sender keeps them. Collector: otelcol_exporter_enqueue_failed_spans."""
DRIFTLINE_EXPORTER_RETRIED_SPANS: Final = 'driftline.exporter.retried_spans'
"""Spans in send attempts that failed retryably and were scheduled again (attribute exporter)."""
DRIFTLINE_EXPORTER_REDELIVERED_SPANS: Final = 'driftline.exporter.redelivered_spans'
"""Spans sent again after a restart because the persistent queue held them without a recorded acknowledgement: possible duplicates at the backend (attribute exporter)."""
DRIFTLINE_EXPORTER_QUEUE_SIZE: Final = 'driftline.exporter.queue_size'
"""Requests in an exporter's sending queue, including those being sent (attribute exporter). Collector: otelcol_exporter_queue_size."""
DRIFTLINE_EXPORTER_QUEUE_CAPACITY: Final = 'driftline.exporter.queue_capacity'
"""Capacity of an exporter's sending queue (attribute exporter). Collector: otelcol_exporter_queue_capacity."""
DRIFTLINE_ANALYSIS_ERRORS: Final = 'driftline.analysis.errors'
"""Exceptions raised by analysis hooks; the spans are forwarded regardless (attribute stage)."""
DRIFTLINE_ANALYSIS_DROPPED_SPANS: Final = 'driftline.analysis.dropped_spans'
"""Spans the analysis stage skipped because its backlog was full; forwarding is never delayed for analysis."""
DRIFTLINE_PROCESS_MEMORY_RSS: Final = 'driftline.process.memory_rss'
"""Resident set size of the processor process. Collector: otelcol_process_memory_rss."""
DRIFTLINE_PROCESS_MEMORY_LIMITED: Final = 'driftline.process.memory_limited'
"""1 while the memory limiter refuses data (RSS above limit_mib - spike_limit_mib), else 0."""
DRIFTLINE_RECEIVER_ACCEPTED_METRIC_POINTS: Final = 'driftline.receiver.accepted_metric_points'
"""Metric data points a receiver accepted and handed to the pipeline (attributes receiver, transport). Collector: otelcol_receiver_accepted_metric_points."""
DRIFTLINE_RECEIVER_REFUSED_METRIC_POINTS: Final = 'driftline.receiver.refused_metric_points'
"""Metric data points a receiver refused retryably (attributes receiver, transport, reason). Collector: otelcol_receiver_refused_metric_points."""
DRIFTLINE_RECEIVER_FAILED_METRIC_POINTS: Final = 'driftline.receiver.failed_metric_points'
"""Metric data points a receiver could not hand on because of an internal fault (attributes receiver, transport). Collector: otelcol_receiver_failed_metric_points."""
DRIFTLINE_EXPORTER_SENT_METRIC_POINTS: Final = 'driftline.exporter.sent_metric_points'
"""Metric data points an exporter delivered; for the prometheus exporter, stored for scraping (attribute exporter). Collector: otelcol_exporter_sent_metric_points."""
DRIFTLINE_EXPORTER_SEND_FAILED_METRIC_POINTS: Final = 'driftline.exporter.send_failed_metric_points'
"""Metric data points an exporter gave up on (attributes exporter, reason; the prometheus exporter adds unsupported, conflict and series_limit). Collector: otelcol_exporter_send_failed_metric_points."""
DRIFTLINE_EXPORTER_ENQUEUE_FAILED_METRIC_POINTS: Final = 'driftline.exporter.enqueue_failed_metric_points'
"""Metric data points an exporter's sending queue could not take (attribute exporter). Collector: otelcol_exporter_enqueue_failed_metric_points."""
DRIFTLINE_EXPORTER_RETRIED_METRIC_POINTS: Final = 'driftline.exporter.retried_metric_points'
"""Metric data points in send attempts that failed retryably and were scheduled again (attribute exporter)."""
DRIFTLINE_EXPORTER_REDELIVERED_METRIC_POINTS: Final = 'driftline.exporter.redelivered_metric_points'
"""Metric data points sent again after a restart from a persistent queue: possible duplicates (attribute exporter)."""
DRIFTLINE_EXPORTER_PROMETHEUS_SERIES: Final = 'driftline.exporter.prometheus_series'
"""Series a prometheus exporter holds for scraping, bounded by its series limit (attribute exporter)."""
PROMETHEUS_TARGET_INFO: Final = 'target_info'
"""Prometheus info metric (value 1) carrying an OTLP resource's attributes as labels, with job and instance. Spec: OpenTelemetry Prometheus and OpenMetrics Compatibility, Resource Attributes."""
DRIFTLINE_DRIFT_SCORE: Final = 'driftline.drift.score'
"""Latest drift statistic per (service.name, ml.model.name or gen_ai.request.model, version, driftline.drift.signal, driftline.drift.method, driftline.segment). For cusum, the statistic divided by its decision interval (1 = alarm)."""
DRIFTLINE_DRIFT_THRESHOLD: Final = 'driftline.drift.threshold'
"""The decision threshold in force for driftline.drift.score (the larger of the null-calibrated threshold at the window size and the minimum effect size)."""
DRIFTLINE_DRIFT_ALARMS: Final = 'driftline.drift.alarms'
"""Flagged verdicts (windows over threshold, change-detector alarms) per model, signal, method and segment; in OpenMetrics each carries an exemplar with the trace id of a flagged span."""
DRIFTLINE_DRIFT_DETECTED_METRIC: Final = 'driftline.drift.detected'
"""1 while drift is flagged (after hysteresis) for the same label set as driftline.drift.score, else 0."""
ML_INFERENCE_DURATION: Final = 'ml.inference.duration'
"""Duration of one recorded model call (attributes ml.model.name, ml.model.version, ml.model.framework, ml.model.method, error.type)."""
DRIFTLINE_MODEL_PERFORMANCE: Final = 'driftline.model.performance'
"""Rolling model performance over the last labelled rows (default 1000) per (service.name, driftline.model.name, driftline.model.version, driftline.segment, driftline.performance.metric). Ratios in [0, 1]; mae and rmse in the unit of the prediction; label_count in rows."""
DRIFTLINE_FAIRNESS_GAP: Final = 'driftline.fairness.gap'
"""Largest difference between segments of one segment attribute (driftline.fairness.attribute) of a binary classifier's positive-prediction rate or true positive rate, over segments with enough labelled rows (default 30); per driftline.fairness.metric."""
DRIFTLINE_QUALITY_VALUE: Final = 'driftline.quality.value'
"""Current quality value per (service.name, driftline.model.name, driftline.model.family, driftline.quality.check; error.type for error_type_rate): rates are fractions in [0, 1] over the last N calls, latency_* are seconds, cost_* are US dollars."""
DRIFTLINE_QUALITY_FLAGGED: Final = 'driftline.quality.flagged'
"""Spans that failed a quality check, per (service.name, driftline.model.name, driftline.model.family, driftline.quality.flag)."""

# --- metric details ----------------------------------------------------------------------------
GEN_AI_CLIENT_OPERATION_DURATION_UNIT: Final = 's'
GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS: Final[tuple[float, ...]] = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
GEN_AI_CLIENT_TOKEN_USAGE_UNIT: Final = '{token}'
GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS: Final[tuple[float, ...]] = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK_UNIT: Final = 's'
GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK_BUCKETS: Final[tuple[float, ...]] = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
DRIFTLINE_INSTRUMENTATION_ERRORS_UNIT: Final = '{error}'
DRIFTLINE_INSTRUMENTATION_ERRORS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_RECEIVER_ACCEPTED_SPANS_UNIT: Final = '{span}'
DRIFTLINE_RECEIVER_ACCEPTED_SPANS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_RECEIVER_REFUSED_SPANS_UNIT: Final = '{span}'
DRIFTLINE_RECEIVER_REFUSED_SPANS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_RECEIVER_FAILED_SPANS_UNIT: Final = '{span}'
DRIFTLINE_RECEIVER_FAILED_SPANS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_RECEIVER_REFUSED_REQUESTS_UNIT: Final = '{request}'
DRIFTLINE_RECEIVER_REFUSED_REQUESTS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT_UNIT: Final = '{request}'
DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_RECEIVER_BYTES_IN_FLIGHT_UNIT: Final = 'By'
DRIFTLINE_RECEIVER_BYTES_IN_FLIGHT_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_SENT_SPANS_UNIT: Final = '{span}'
DRIFTLINE_EXPORTER_SENT_SPANS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_SEND_FAILED_SPANS_UNIT: Final = '{span}'
DRIFTLINE_EXPORTER_SEND_FAILED_SPANS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_ENQUEUE_FAILED_SPANS_UNIT: Final = '{span}'
DRIFTLINE_EXPORTER_ENQUEUE_FAILED_SPANS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_RETRIED_SPANS_UNIT: Final = '{span}'
DRIFTLINE_EXPORTER_RETRIED_SPANS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_REDELIVERED_SPANS_UNIT: Final = '{span}'
DRIFTLINE_EXPORTER_REDELIVERED_SPANS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_QUEUE_SIZE_UNIT: Final = '{request}'
DRIFTLINE_EXPORTER_QUEUE_SIZE_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_QUEUE_CAPACITY_UNIT: Final = '{request}'
DRIFTLINE_EXPORTER_QUEUE_CAPACITY_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_ANALYSIS_ERRORS_UNIT: Final = '{error}'
DRIFTLINE_ANALYSIS_ERRORS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_ANALYSIS_DROPPED_SPANS_UNIT: Final = '{span}'
DRIFTLINE_ANALYSIS_DROPPED_SPANS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_PROCESS_MEMORY_RSS_UNIT: Final = 'By'
DRIFTLINE_PROCESS_MEMORY_RSS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_PROCESS_MEMORY_LIMITED_UNIT: Final = '1'
DRIFTLINE_PROCESS_MEMORY_LIMITED_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_RECEIVER_ACCEPTED_METRIC_POINTS_UNIT: Final = '{data_point}'
DRIFTLINE_RECEIVER_ACCEPTED_METRIC_POINTS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_RECEIVER_REFUSED_METRIC_POINTS_UNIT: Final = '{data_point}'
DRIFTLINE_RECEIVER_REFUSED_METRIC_POINTS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_RECEIVER_FAILED_METRIC_POINTS_UNIT: Final = '{data_point}'
DRIFTLINE_RECEIVER_FAILED_METRIC_POINTS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_SENT_METRIC_POINTS_UNIT: Final = '{data_point}'
DRIFTLINE_EXPORTER_SENT_METRIC_POINTS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_SEND_FAILED_METRIC_POINTS_UNIT: Final = '{data_point}'
DRIFTLINE_EXPORTER_SEND_FAILED_METRIC_POINTS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_ENQUEUE_FAILED_METRIC_POINTS_UNIT: Final = '{data_point}'
DRIFTLINE_EXPORTER_ENQUEUE_FAILED_METRIC_POINTS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_RETRIED_METRIC_POINTS_UNIT: Final = '{data_point}'
DRIFTLINE_EXPORTER_RETRIED_METRIC_POINTS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_REDELIVERED_METRIC_POINTS_UNIT: Final = '{data_point}'
DRIFTLINE_EXPORTER_REDELIVERED_METRIC_POINTS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_EXPORTER_PROMETHEUS_SERIES_UNIT: Final = '{series}'
DRIFTLINE_EXPORTER_PROMETHEUS_SERIES_BUCKETS: Final[tuple[float, ...]] = ()
PROMETHEUS_TARGET_INFO_UNIT: Final = '1'
PROMETHEUS_TARGET_INFO_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_DRIFT_SCORE_UNIT: Final = '{score}'
DRIFTLINE_DRIFT_SCORE_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_DRIFT_THRESHOLD_UNIT: Final = '{score}'
DRIFTLINE_DRIFT_THRESHOLD_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_DRIFT_ALARMS_UNIT: Final = '{alarm}'
DRIFTLINE_DRIFT_ALARMS_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_DRIFT_DETECTED_METRIC_UNIT: Final = '{flag}'
DRIFTLINE_DRIFT_DETECTED_METRIC_BUCKETS: Final[tuple[float, ...]] = ()
ML_INFERENCE_DURATION_UNIT: Final = 's'
ML_INFERENCE_DURATION_BUCKETS: Final[tuple[float, ...]] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DRIFTLINE_MODEL_PERFORMANCE_UNIT: Final = '{value}'
DRIFTLINE_MODEL_PERFORMANCE_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_FAIRNESS_GAP_UNIT: Final = '1'
DRIFTLINE_FAIRNESS_GAP_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_QUALITY_VALUE_UNIT: Final = '{value}'
DRIFTLINE_QUALITY_VALUE_BUCKETS: Final[tuple[float, ...]] = ()
DRIFTLINE_QUALITY_FLAGGED_UNIT: Final = '{span}'
DRIFTLINE_QUALITY_FLAGGED_BUCKETS: Final[tuple[float, ...]] = ()

# --- events ------------------------------------------------------------------------------------
GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS: Final = 'gen_ai.client.inference.operation.details'
"""One log-record event per inference with the content attributes (gen_ai.input.messages, gen_ai.output.messages, gen_ai.system_instructions, gen_ai.tool.definitions), emitted in the span's context when the capture mode includes events."""
DRIFTLINE_ALERT_EVENT: Final = 'driftline.alert'
"""One log record per alert state change (firing, resolved), with the driftline.alert.* attributes and the model, signal and segment attributes."""

# --- enumerated values -------------------------------------------------------------------------
OPERATION_CHAT: Final = 'chat'
"""A value of ``gen_ai.operation.name``."""
OPERATION_EMBEDDINGS: Final = 'embeddings'
"""A value of ``gen_ai.operation.name``."""
OPERATION_TEXT_COMPLETION: Final = 'text_completion'
"""A value of ``gen_ai.operation.name``."""
PROVIDER_OPENAI: Final = 'openai'
"""A value of ``gen_ai.provider.name``."""
PROVIDER_ANTHROPIC: Final = 'anthropic'
"""A value of ``gen_ai.provider.name``."""
TOKEN_TYPE_INPUT: Final = 'input'
"""A value of ``gen_ai.token.type``."""
TOKEN_TYPE_OUTPUT: Final = 'output'
"""A value of ``gen_ai.token.type``."""
STREAM_END_COMPLETED: Final = 'completed'
"""A value of ``driftline.stream.end_reason``."""
STREAM_END_CLOSED: Final = 'closed'
"""A value of ``driftline.stream.end_reason``."""
STREAM_END_ERROR: Final = 'error'
"""A value of ``driftline.stream.end_reason``."""
STREAM_END_CANCELLED: Final = 'cancelled'
"""A value of ``driftline.stream.end_reason``."""
STREAM_END_GARBAGE_COLLECTED: Final = 'garbage_collected'
"""A value of ``driftline.stream.end_reason``."""
OUTPUT_TYPE_TEXT: Final = 'text'
"""A value of ``gen_ai.output.type``."""
OUTPUT_TYPE_JSON: Final = 'json'
"""A value of ``gen_ai.output.type``."""
OPERATION_EXECUTE_TOOL: Final = 'execute_tool'
"""A value of ``gen_ai.operation.name``."""
OPERATION_INVOKE_AGENT: Final = 'invoke_agent'
"""A value of ``gen_ai.operation.name``."""
OPERATION_CREATE_AGENT: Final = 'create_agent'
"""A value of ``gen_ai.operation.name``."""
OPERATION_INVOKE_WORKFLOW: Final = 'invoke_workflow'
"""A value of ``gen_ai.operation.name``."""
TOOL_TYPE_FUNCTION: Final = 'function'
"""A value of ``gen_ai.tool.type``."""
TOOL_TYPE_EXTENSION: Final = 'extension'
"""A value of ``gen_ai.tool.type``."""
TOOL_TYPE_DATASTORE: Final = 'datastore'
"""A value of ``gen_ai.tool.type``."""
DRIFT_METHOD_PSI: Final = 'psi'
"""A value of ``driftline.drift.method``."""
DRIFT_METHOD_JS: Final = 'js'
"""A value of ``driftline.drift.method``."""
DRIFT_METHOD_HELLINGER: Final = 'hellinger'
"""A value of ``driftline.drift.method``."""
DRIFT_METHOD_KS: Final = 'ks'
"""A value of ``driftline.drift.method``."""
DRIFT_METHOD_WASSERSTEIN: Final = 'wasserstein'
"""A value of ``driftline.drift.method``."""
DRIFT_METHOD_CHI2: Final = 'chi2'
"""A value of ``driftline.drift.method``."""
DRIFT_METHOD_CUSUM: Final = 'cusum'
"""A value of ``driftline.drift.method``."""
DRIFT_METHOD_CENTROID: Final = 'centroid'
"""A value of ``driftline.drift.method``."""
DRIFT_METHOD_MMD: Final = 'mmd'
"""A value of ``driftline.drift.method``."""
DRIFT_REFERENCE_BASELINE: Final = 'baseline'
"""A value of ``driftline.drift.reference``."""
DRIFT_REFERENCE_WARMUP: Final = 'warmup'
"""A value of ``driftline.drift.reference``."""
SIGNAL_DURATION: Final = 'duration'
"""A value of ``driftline.drift.signal``."""
SIGNAL_FEATURE_PREFIX: Final = 'feature.'
"""A value of ``driftline.drift.signal``."""
SIGNAL_PREDICTION: Final = 'prediction'
"""A value of ``driftline.drift.signal``."""
SIGNAL_PREDICTION_SCORE: Final = 'prediction.score'
"""A value of ``driftline.drift.signal``."""
SIGNAL_TOOL_ERROR: Final = 'tool.error'
"""A value of ``driftline.drift.signal``."""
SIGNAL_AGENT_STEPS: Final = 'agent.steps'
"""A value of ``driftline.drift.signal``."""
MODEL_FAMILY_ML: Final = 'ml'
"""A value of ``driftline.model.family``."""
MODEL_FAMILY_LLM: Final = 'llm'
"""A value of ``driftline.model.family``."""
MODEL_FAMILY_AGENT: Final = 'agent'
"""A value of ``driftline.model.family``."""
ALERT_STATE_FIRING: Final = 'firing'
"""A value of ``driftline.alert.state``."""
ALERT_STATE_RESOLVED: Final = 'resolved'
"""A value of ``driftline.alert.state``."""
ALERT_METRIC_DRIFT_SCORE: Final = 'drift.score'
"""A value of ``driftline.alert.metric``."""
ALERT_METRIC_DRIFT_DETECTED: Final = 'drift.detected'
"""A value of ``driftline.alert.metric``."""
ALERT_METRIC_QUALITY_VALUE: Final = 'quality.value'
"""A value of ``driftline.alert.metric``."""
ALERT_METRIC_PERFORMANCE_VALUE: Final = 'performance.value'
"""A value of ``driftline.alert.metric``."""
PROVIDER_LANGCHAIN: Final = 'langchain'
"""A value of ``gen_ai.provider.name``."""
LANGCHAIN_RUN_CHAIN: Final = 'chain'
"""A value of ``driftline.langchain.run.type``."""
LANGCHAIN_RUN_CHAT_MODEL: Final = 'chat_model'
"""A value of ``driftline.langchain.run.type``."""
LANGCHAIN_RUN_LLM: Final = 'llm'
"""A value of ``driftline.langchain.run.type``."""
LANGCHAIN_RUN_TOOL: Final = 'tool'
"""A value of ``driftline.langchain.run.type``."""
LANGCHAIN_RUN_RETRIEVER: Final = 'retriever'
"""A value of ``driftline.langchain.run.type``."""
MCP_METHOD_TOOLS_CALL: Final = 'tools/call'
"""A value of ``mcp.method.name``."""
MCP_METHOD_PROMPTS_GET: Final = 'prompts/get'
"""A value of ``mcp.method.name``."""
MCP_METHOD_RESOURCES_READ: Final = 'resources/read'
"""A value of ``mcp.method.name``."""
MCP_METHOD_RESOURCES_SUBSCRIBE: Final = 'resources/subscribe'
"""A value of ``mcp.method.name``."""
MCP_METHOD_RESOURCES_UNSUBSCRIBE: Final = 'resources/unsubscribe'
"""A value of ``mcp.method.name``."""
ERROR_TYPE_TOOL_ERROR: Final = 'tool_error'
"""A value of ``error.type``."""
NETWORK_TRANSPORT_PIPE: Final = 'pipe'
"""A value of ``network.transport``."""
NETWORK_TRANSPORT_TCP: Final = 'tcp'
"""A value of ``network.transport``."""
ML_OPERATION_PREDICT: Final = 'predict'
"""A value of ``ml.operation.name``."""
ML_OPERATION_FEEDBACK: Final = 'feedback'
"""A value of ``ml.operation.name``."""
ML_FEATURES_ENCODING_ATTRIBUTES: Final = 'attributes'
"""A value of ``ml.features.encoding``."""
ML_FEATURES_ENCODING_PACKED: Final = 'packed'
"""A value of ``ml.features.encoding``."""
ML_FEATURES_ENCODING_NONE: Final = 'none'
"""A value of ``ml.features.encoding``."""
ML_SCORE_TYPE_PROBABILITY: Final = 'probability'
"""A value of ``ml.prediction.score_type``."""
ML_SCORE_TYPE_LOG_PROBABILITY: Final = 'log_probability'
"""A value of ``ml.prediction.score_type``."""
ML_SCORE_TYPE_DECISION: Final = 'decision'
"""A value of ``ml.prediction.score_type``."""
ML_TASK_CLASSIFICATION: Final = 'classification'
"""A value of ``ml.model.task``."""
ML_TASK_REGRESSION: Final = 'regression'
"""A value of ``ml.model.task``."""
ML_TASK_CLUSTERING: Final = 'clustering'
"""A value of ``ml.model.task``."""
ML_TASK_OUTLIER_DETECTION: Final = 'outlier_detection'
"""A value of ``ml.model.task``."""
ML_FRAMEWORK_SKLEARN: Final = 'sklearn'
"""A value of ``ml.model.framework``."""
PERFORMANCE_METRIC_ACCURACY: Final = 'accuracy'
"""A value of ``driftline.performance.metric``."""
PERFORMANCE_METRIC_PRECISION: Final = 'precision'
"""A value of ``driftline.performance.metric``."""
PERFORMANCE_METRIC_RECALL: Final = 'recall'
"""A value of ``driftline.performance.metric``."""
PERFORMANCE_METRIC_F1: Final = 'f1'
"""A value of ``driftline.performance.metric``."""
PERFORMANCE_METRIC_ROC_AUC: Final = 'roc_auc'
"""A value of ``driftline.performance.metric``."""
PERFORMANCE_METRIC_MAE: Final = 'mae'
"""A value of ``driftline.performance.metric``."""
PERFORMANCE_METRIC_RMSE: Final = 'rmse'
"""A value of ``driftline.performance.metric``."""
PERFORMANCE_METRIC_LABEL_COUNT: Final = 'label_count'
"""A value of ``driftline.performance.metric``."""
FAIRNESS_METRIC_DEMOGRAPHIC_PARITY_DIFFERENCE: Final = 'demographic_parity_difference'
"""A value of ``driftline.fairness.metric``."""
FAIRNESS_METRIC_EQUAL_OPPORTUNITY_DIFFERENCE: Final = 'equal_opportunity_difference'
"""A value of ``driftline.fairness.metric``."""
QUALITY_FLAG_ERROR: Final = 'error'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_TRUNCATED: Final = 'truncated'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_EMPTY: Final = 'empty'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_REFUSAL: Final = 'refusal'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_INVALID_JSON: Final = 'invalid_json'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_PII: Final = 'pii'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_TOKEN_SPIKE: Final = 'token_spike'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_COST_UNKNOWN: Final = 'cost_unknown'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_LATENCY_SLO: Final = 'latency_slo'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_TOOL_ERROR: Final = 'tool_error'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_AGENT_LOOP: Final = 'agent_loop'
"""A value of ``driftline.quality.flags``."""
QUALITY_FLAG_AGENT_TOO_MANY_STEPS: Final = 'agent_too_many_steps'
"""A value of ``driftline.quality.flags``."""
QUALITY_CHECK_ERROR_RATE: Final = 'error_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_ERROR_TYPE_RATE: Final = 'error_type_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_TRUNCATION_RATE: Final = 'truncation_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_EMPTY_RATE: Final = 'empty_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_REFUSAL_RATE: Final = 'refusal_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_INVALID_JSON_RATE: Final = 'invalid_json_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_PII_RATE: Final = 'pii_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_TOKEN_SPIKE_RATE: Final = 'token_spike_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_COST_UNKNOWN_RATE: Final = 'cost_unknown_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_LATENCY_SLO_RATE: Final = 'latency_slo_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_TOOL_ERROR_RATE: Final = 'tool_error_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_AGENT_LOOP_RATE: Final = 'agent_loop_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_AGENT_TOO_MANY_STEPS_RATE: Final = 'agent_too_many_steps_rate'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_LATENCY_P50: Final = 'latency_p50'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_LATENCY_P95: Final = 'latency_p95'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_LATENCY_P99: Final = 'latency_p99'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_COST_PER_CALL: Final = 'cost_per_call'
"""A value of ``driftline.quality.check``."""
QUALITY_CHECK_COST_TOTAL: Final = 'cost_total'
"""A value of ``driftline.quality.check``."""

# --- environment variables ---------------------------------------------------------------------
ENV_CAPTURE_MESSAGE_CONTENT: Final = 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'
"""Content capture mode: NO_CONTENT (default), SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT (true = SPAN_ONLY, false = NO_CONTENT)."""
ENV_CONTENT_MAX_LENGTH: Final = 'DRIFTLINE_CONTENT_MAX_LENGTH'
"""Maximum characters kept per captured text part (default 8192; 0 = unlimited). Cut text ends with a marker."""
ENV_CONTENT_REDACT: Final = 'DRIFTLINE_CONTENT_REDACT'
"""Redact e-mail addresses, phone numbers, card numbers (Luhn), IBANs and US SSNs before capture (default true)."""
ENV_SPAN_ATTRIBUTES: Final = 'DRIFTLINE_SPAN_ATTRIBUTES'
"""Static attributes for every driftline span, e.g. team=search,tier=gold."""
ENV_AUTO_INSTRUMENT: Final = 'DRIFTLINE_AUTO_INSTRUMENT'
"""true = instrument every supported library at interpreter start and configure the OTel SDK from OTEL_*."""
ENV_SDK_DISABLED: Final = 'OTEL_SDK_DISABLED'
"""true = OpenTelemetry disabled; driftline's auto-activation does nothing."""
ENV_DISABLED_INSTRUMENTATIONS: Final = 'OTEL_PYTHON_DISABLED_INSTRUMENTATIONS'
"""Comma-separated instrumentor names (driftline_openai or openai, ...) that auto-activation skips."""
ENV_ML_CAPTURE_FEATURES: Final = 'DRIFTLINE_ML_CAPTURE_FEATURES'
"""Record model input features on prediction spans (default true; false = only batch size, feature count, predictions and scores). String features are redacted (DRIFTLINE_CONTENT_REDACT) and cut (DRIFTLINE_CONTENT_MAX_LENGTH)."""
ENV_ML_EXCLUDE_FEATURES: Final = 'DRIFTLINE_ML_EXCLUDE_FEATURES'
"""Comma-separated feature names never recorded (e.g. email,customer_id); they still count in ml.features.count."""
ENV_ML_MAX_ROWS: Final = 'DRIFTLINE_ML_MAX_ROWS'
"""Rows recorded per call (default 32); larger batches record a uniform random sample of this many rows and their positions (ml.batch.row_indices)."""
ENV_ML_FEATURE_ATTRIBUTES_MAX: Final = 'DRIFTLINE_ML_FEATURE_ATTRIBUTES_MAX'
"""Models with at most this many features (default 32) get one readable ml.feature.<name> attribute per feature; more features, or too little room under the span attribute count limit, switch to the packed encoding."""
ENV_OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: Final = 'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT'
"""The OTel SDK's maximum attributes per span (default 128); driftline's ML encoding stays under it."""
ENV_OTEL_ATTRIBUTE_COUNT_LIMIT: Final = 'OTEL_ATTRIBUTE_COUNT_LIMIT'
"""The OTel SDK's general attribute count limit, used when OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT is unset."""

ATTRIBUTE_NAMES: Final[frozenset[str]] = frozenset({
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_CONVERSATION_ID,
    GEN_AI_OUTPUT_TYPE,
    ERROR_TYPE,
    SERVER_ADDRESS,
    SERVER_PORT,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_REQUEST_TOP_P,
    GEN_AI_REQUEST_TOP_K,
    GEN_AI_REQUEST_FREQUENCY_PENALTY,
    GEN_AI_REQUEST_PRESENCE_PENALTY,
    GEN_AI_REQUEST_STOP_SEQUENCES,
    GEN_AI_REQUEST_SEED,
    GEN_AI_REQUEST_CHOICE_COUNT,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_REQUEST_ENCODING_FORMATS,
    GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    GEN_AI_TOOL_DEFINITIONS,
    GEN_AI_TOKEN_TYPE,
    DRIFTLINE_CONTENT_TRUNCATED,
    DRIFTLINE_CONTENT_REDACTED,
    DRIFTLINE_RESPONSE_TOOL_CALL_COUNT,
    DRIFTLINE_RESPONSE_OUTPUT_LENGTH,
    DRIFTLINE_STREAM_END_REASON,
    DRIFTLINE_STREAM_CHUNK_COUNT,
    GEN_AI_AGENT_ID,
    GEN_AI_AGENT_NAME,
    GEN_AI_AGENT_DESCRIPTION,
    GEN_AI_AGENT_VERSION,
    GEN_AI_WORKFLOW_NAME,
    GEN_AI_TOOL_NAME,
    GEN_AI_TOOL_CALL_ID,
    GEN_AI_TOOL_TYPE,
    GEN_AI_TOOL_DESCRIPTION,
    GEN_AI_TOOL_CALL_ARGUMENTS,
    GEN_AI_TOOL_CALL_RESULT,
    GEN_AI_DATA_SOURCE_ID,
    DRIFTLINE_INVOCATION_ARGUMENTS,
    DRIFTLINE_INVOCATION_RESULT,
    DRIFTLINE_DRIFT_DETECTED,
    DRIFTLINE_DRIFT_SIGNALS,
    DRIFTLINE_ALERT_RULE,
    DRIFTLINE_ALERT_SEVERITY,
    DRIFTLINE_ALERT_STATE,
    DRIFTLINE_ALERT_METRIC,
    DRIFTLINE_ALERT_VALUE,
    DRIFTLINE_ALERT_THRESHOLD,
    DRIFTLINE_ALERT_TRACE_IDS,
    DRIFTLINE_EMBEDDING,
    DRIFTLINE_LANGCHAIN_RUN_TYPE,
    DRIFTLINE_LANGGRAPH_NODE,
    MCP_METHOD_NAME,
    MCP_SESSION_ID,
    MCP_PROTOCOL_VERSION,
    MCP_RESOURCE_URI,
    GEN_AI_PROMPT_NAME,
    JSONRPC_REQUEST_ID,
    RPC_RESPONSE_STATUS_CODE,
    NETWORK_TRANSPORT,
    ML_OPERATION_NAME,
    ML_MODEL_NAME,
    ML_MODEL_VERSION,
    ML_MODEL_FRAMEWORK,
    ML_MODEL_TASK,
    ML_MODEL_TRAINING_DATA,
    ML_MODEL_METHOD,
    ML_PREDICTION_ID,
    ML_BATCH_SIZE,
    ML_BATCH_RECORDED_ROWS,
    ML_BATCH_ROW_INDICES,
    ML_FEATURE_TEMPLATE,
    ML_FEATURES_ENCODING,
    ML_FEATURES_COUNT,
    ML_FEATURES_NUMERIC_NAMES,
    ML_FEATURES_NUMERIC_VALUES,
    ML_FEATURES_CATEGORICAL_NAMES,
    ML_FEATURES_CATEGORICAL_VALUES,
    ML_PREDICTION_VALUES,
    ML_PREDICTION_DIMENSION,
    ML_PREDICTION_SCORES,
    ML_PREDICTION_SCORE_LABELS,
    ML_PREDICTION_SCORE_TYPE,
    ML_FEEDBACK_LABELS,
    ML_FEEDBACK_ROWS,
    DRIFTLINE_QUALITY_FLAGS,
    DRIFTLINE_COST_USD,
    DRIFTLINE_COST_PRICE_VERSION,
    DRIFTLINE_INSTRUMENTATION_STEP,
    DRIFTLINE_LABEL_RECEIVER,
    DRIFTLINE_LABEL_TRANSPORT,
    DRIFTLINE_LABEL_EXPORTER,
    DRIFTLINE_LABEL_REASON,
    DRIFTLINE_LABEL_STAGE,
    SERVICE_NAME,
    SERVICE_NAMESPACE,
    SERVICE_INSTANCE_ID,
    PROMETHEUS_LABEL_JOB,
    PROMETHEUS_LABEL_INSTANCE,
    DRIFTLINE_DRIFT_SIGNAL,
    DRIFTLINE_DRIFT_METHOD,
    DRIFTLINE_DRIFT_REFERENCE,
    DRIFTLINE_MODEL_NAME,
    DRIFTLINE_MODEL_VERSION,
    DRIFTLINE_MODEL_FAMILY,
    DRIFTLINE_SEGMENT,
    DRIFTLINE_PERFORMANCE_METRIC,
    DRIFTLINE_FAIRNESS_METRIC,
    DRIFTLINE_FAIRNESS_ATTRIBUTE,
    DRIFTLINE_QUALITY_CHECK,
    DRIFTLINE_QUALITY_FLAG,
})
"""All registered attribute names."""
