import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SinkholeCore
import SinkholeStore
import Synchronization

/// What every feed API connection shares: the ISP directory and attributor (swapped whole on
/// SIGHUP), the store to read, the per-ISP rate limiter, and the threads that read the store.
public final class FeedAPIState: Sendable {
    public struct Snapshot: Sendable {
        public var directory: ISPDirectory
        public var attributor: AddressAttributor
        public init(directory: ISPDirectory, attributor: AddressAttributor) {
            self.directory = directory
            self.attributor = attributor
        }
    }

    private let snapshot: Mutex<Snapshot>
    private let limiter: Mutex<FeedRateLimiter>
    /// Opens a reader of the store for one request (a read-only SQLite connection).
    let openReader: @Sendable () throws -> any StoredDayReader
    /// Store reads block: they run here, never on an event loop.
    let pool: NIOThreadPool
    let logger: Logger

    public init(_ snapshot: Snapshot, limiter: FeedRateLimiter, pool: NIOThreadPool, logger: Logger,
                openReader: @escaping @Sendable () throws -> any StoredDayReader) {
        self.snapshot = Mutex(snapshot)
        self.limiter = Mutex(limiter)
        self.pool = pool
        self.logger = logger
        self.openReader = openReader
    }

    /// Replaces the directory and attributor (SIGHUP); requests already streaming finish with
    /// the ones they started with.
    public func update(_ new: Snapshot) {
        snapshot.withLock { $0 = new }
    }

    public var current: Snapshot { snapshot.withLock { $0 } }

    func admit(_ isp: String) -> FeedRateLimiter.Decision {
        let now = Int64(NIODeadline.now().uptimeNanoseconds / 1000)
        return limiter.withLock { $0.admit(isp, now: now) }
    }
}

/// One feed API connection: authenticates the bearer token against the ISP directory (hashes
/// compared in constant time), limits each ISP's request rate, and streams the answer from a
/// pool thread, waiting for each chunk to be written before reading more rows, so a slow client
/// holds one chunk in memory, not the answer. One request per connection (`Connection: close`):
/// an ISP fetches a few files a day, and it keeps a streamed answer's end unambiguous.
public final class FeedAPIHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart

    private let state: FeedAPIState
    private var head: HTTPRequestHead?
    private var answered = false

    public init(state: FeedAPIState) {
        self.state = state
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if self.head == nil && !answered { self.head = head }
        case .body:
            break
        case .end:
            guard let head, !answered else { return }
            answered = true
            serve(head, context: context)
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent {
            switch idle {
            // A request that never completes (slowloris) holds nothing for long; once it is
            // answered the client owes no more bytes, only reads.
            case .read: if !answered { context.close(promise: nil) }
            // A client that stops reading an answer would hold a store reader and a pool
            // thread for ever: let it go.
            case .write: if answered { context.close(promise: nil) }
            case .all: break
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func serve(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let request: FeedRequest
        switch FeedRequest.parse(method: head.method.rawValue, target: head.uri) {
        case .failure(let refusal):
            return refuse(refusal.status, refusal.message, context: context)
        case .success(let parsed):
            request = parsed
        }
        let snapshot = state.current
        guard let token = Self.bearerToken(head.headers),
              let isp = snapshot.directory.isp(tokenSHA256: SHA256Hasher.hash(token.utf8)) else {
            return refuse(401, "a valid bearer token is required (Authorization: Bearer <token>)", context: context,
                          extra: [("WWW-Authenticate", "Bearer realm=\"sinkhole feeds\"")])
        }
        if case .limited(let retryAfter) = state.admit(isp.name) {
            return refuse(429, "too many requests for \(isp.name); retry in \(retryAfter) s", context: context,
                          extra: [("Retry-After", String(retryAfter))])
        }
        let format: FeedRequest.Format = switch request {
        case .checkIns(_, let format), .infections(_, _, let format): format
        }
        let channel = context.channel
        let loop = context.eventLoop
        let state = self.state
        let bodyWanted = head.method != .HEAD
        state.pool.submit { poolState in
            guard poolState == .active else {
                channel.close(promise: nil)
                return
            }
            let reader: any StoredDayReader
            do {
                reader = try state.openReader()
            } catch {
                state.logger.error("feed API cannot read the store", metadata: ["error": "\(error)"])
                loop.execute { Self.writeRefusal(503, "the store cannot be read now; try again later", channel: channel) }
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: format.contentType)
            headers.add(name: "Cache-Control", value: "no-store")
            headers.add(name: "Connection", value: "close")
            if !bodyWanted { headers.add(name: "Content-Length", value: "0") }
            let responseHead = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
            do {
                try channel.writeAndFlush(HTTPServerResponsePart.head(responseHead)).wait()
                var rows = 0
                if bodyWanted {
                    rows = try FeedQuery(request, isp: isp.name).run(reader: reader, attributor: snapshot.attributor) { bytes in
                        let buffer = channel.allocator.buffer(bytes: bytes)
                        // Waiting here is the back-pressure: the next rows are read only once
                        // this chunk is on its way to the client.
                        try channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer))).wait()
                    }
                }
                try channel.writeAndFlush(HTTPServerResponsePart.end(nil)).wait()
                state.logger.info("feed served", metadata: ["isp": "\(isp.name)", "feed.rows": "\(rows)",
                                                            "http.target": "\(head.uri)"])
            } catch {
                // Mid-stream the status is gone: closing without the final chunk tells the
                // client the answer is incomplete.
                state.logger.warning("feed answer cut short", metadata: ["isp": "\(isp.name)", "error": "\(error)"])
            }
            channel.close(promise: nil)
        }
    }

    static func bearerToken(_ headers: HTTPHeaders) -> String? {
        let values = headers["Authorization"]
        guard values.count == 1 else { return nil }
        let value = values[0]
        guard value.count > 7, value.prefix(7).lowercased() == "bearer " else { return nil }
        let token = value.dropFirst(7).trimmingCharacters(in: " ")
        return token.isEmpty ? nil : token
    }

    private func refuse(_ status: Int, _ message: String, context: ChannelHandlerContext, extra: [(String, String)] = []) {
        Self.writeRefusal(status, message, channel: context.channel, extra: extra)
    }

    static func writeRefusal(_ status: Int, _ message: String, channel: any Channel, extra: [(String, String)] = []) {
        let body = Array((message + "\n").utf8)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in extra { headers.add(name: name, value: value) }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension FeedAPIHandler: Sendable {}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}
