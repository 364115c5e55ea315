import Foundation
import NIOCore
import NIOHTTP1
import SinkholeCore

/// The observability listener's routes: `/metrics` (Prometheus text), `/healthz` (the process
/// answers), `/readyz` (ready to take traffic, or why not, as JSON) and `/status` (the page
/// an operator keeps open). Every answer is a read of values the pipeline already keeps,
/// rendered on the event loop; nothing here reads the store.
final class ObservabilityHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: SinkholeMetrics
    private let sources: MetricSources
    private var head: HTTPRequestHead?

    init(metrics: SinkholeMetrics, sources: MetricSources) {
        self.metrics = metrics
        self.sources = sources
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
        case .body:
            // Requests here carry no body worth reading; what comes is discarded.
            break
        case .end:
            guard let request = head else { return }
            head = nil
            respond(to: request, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A connection that sends nothing for the read timeout holds a descriptor for nothing.
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let answer = Self.answer(method: request.method, uri: request.uri, metrics: metrics, sources: sources)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        for (name, value) in answer.headers { headers.add(name: name, value: value) }
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        var response = HTTPResponseHead(version: request.version, status: answer.status, headers: headers)
        response.headers.replaceOrAdd(name: "Server", value: "sinkhole/\(SinkholeVersion.string)")
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    struct Answer {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]
        var headers: [(String, String)] = []
    }

    /// What a request gets, as a function of its method and target (tested without sockets).
    static func answer(method: HTTPMethod, uri: String, metrics: SinkholeMetrics, sources: MetricSources,
                       now: UTCTime = .now()) -> Answer {
        let path = String(uri.prefix { $0 != "?" })
        guard ["/metrics", "/healthz", "/readyz", "/status", "/"].contains(path) else {
            return text(.notFound, "not found: this listener serves /metrics, /healthz, /readyz and /status\n")
        }
        guard method == .GET || method == .HEAD else {
            var answer = text(.methodNotAllowed, "only GET and HEAD\n")
            answer.headers.append(("Allow", "GET, HEAD"))
            return answer
        }
        switch path {
        case "/metrics":
            return Answer(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8",
                          body: metrics.exposition(from: sources, now: now))
        case "/healthz":
            let uptime = max(0, (now.microseconds - sources.startedAt.microseconds) / 1_000_000)
            return json(.ok, Health(status: "alive", version: SinkholeVersion.string, node: sources.node, uptimeSeconds: uptime))
        case "/readyz":
            let report = sources.readiness(now: now)
            return json(report.ready ? .ok : .serviceUnavailable, report)
        case "/status":
            var answer = Answer(status: .ok, contentType: "text/html; charset=utf-8",
                                body: Array(StatusPage.render(sources.statusSnapshot(now: now)).utf8))
            // Inline style only: nothing else loads, so the page works offline and a name a
            // bot chose cannot pull anything in even if escaping ever failed.
            answer.headers.append(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"))
            return answer
        default:
            var answer = text(.found, "see /status\n")
            answer.headers.append(("Location", "/status"))
            return answer
        }
    }

    private struct Health: Encodable {
        var status: String
        var version: String
        var node: String
        var uptimeSeconds: Int64
    }

    private static func text(_ status: HTTPResponseStatus, _ body: String) -> Answer {
        Answer(status: status, contentType: "text/plain; charset=utf-8", body: Array(body.utf8))
    }

    private static func json(_ status: HTTPResponseStatus, _ value: some Encodable) -> Answer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let body = ((try? encoder.encode(value)).map { Array($0) } ?? Array("{}".utf8)) + [0x0A]
        return Answer(status: status, contentType: "application/json", body: body)
    }
}
