// The L7 (HTTP) stage's public surface: what replay, probe and explain call. See README.md for
// how the pieces fit and where they plug into the datapath's flow events.

export { L7Stage, markOf, type L7Mark, type L7Output, type L7Stats, type L7StageOptions } from './stage.js';
export { L7Policy, type L7Query, type L7RuleSet } from './resolve.js';
export {
  ACCESS_DENIED, checkHttpRule, compileHttpRule, describeHttpRule, headerRequirement, l7Verdict, matchesHttpRule,
  type HeaderRequirement, type HttpRuleMatcher, type L7Verdict, type RequirementCheck,
} from './policy.js';
export { HttpParser, headerValue, DEFAULT_HTTP_LIMITS, type HttpEvent, type HttpHeader, type HttpLimits, type HttpRequest, type HttpResponse } from './http.js';
export { TcpReassembler, connectionKey, DEFAULT_REASSEMBLY_LIMITS, type ReassemblyLimits, type StreamEvent } from './reassembly.js';
export { tcpSegmentOf, type TcpSegment } from './segment.js';
export {
  l7CompactLine, l7JsonLine, l7NoticeLine, l7Summary, MESSAGE_TYPE_ACCESS_LOG,
  type L7Extras, type L7Flow, type L7HubbleFlow, type L7Notice, type Layer7Json,
} from './flow.js';
export { httpConversation, requestText, type ConversationFrame, type ConversationSpec, type HttpRequestSpec } from './synth.js';
export {
  defaultHost, httpProblem, L7_NO_REQUEST, L7_NOT_REDIRECTED, L7ProbeSession, PROBE_SERVER_RESPONSE, probeConversation, probeRequest,
  type ProbeHttp, type ProbeL7Verdict,
} from './probe.js';
export { L7Replay, l7SummaryKey, markOfReplayFlows, type L7ReplayOptions } from './replay.js';
