import NIOCore

/// What the TCP framing layer hands the `DNSTCPHandler`: a whole message, news that a message
/// has begun arriving, or a zero-length frame.
public enum DNSTCPFrame: Sendable, Equatable {
    /// One DNS message, without its two-byte length prefix (a slice of the read buffer, not a
    /// copy).
    case message(ByteBuffer)
    /// The first bytes of a message (or of its length prefix) have arrived and the rest has
    /// not. Sent once per message, so the handler can start the per-message read timeout
    /// and treat the connection as busy, not idle.
    case started
    /// A frame whose length prefix is 0. No DNS message is empty (a header alone is 12
    /// bytes), so there is nothing to answer and nothing more from this peer worth reading:
    /// the handler closes the connection. Nothing after it is decoded.
    case empty
}

/// Splits a DNS-over-TCP byte stream into messages: each one is preceded by its length as a
/// two-byte big-endian integer (RFC 1035 §4.2.2, RFC 7766 §8), so a message is at most 65535
/// bytes and the largest buffered partial frame is 65536 bytes.
///
/// Anything may be split anywhere by TCP: the length prefix itself may arrive one byte at a
/// time, and one read may hold many pipelined messages (RFC 7766 §6.2.1.1); each complete
/// message is passed on in order within the same read.
///
/// Attacker-driven oddities are not errors thrown into the pipeline (house style): a
/// zero-length frame becomes `.empty`, and a partial frame left at end of stream is dropped.
public struct DNSTCPFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = DNSTCPFrame

    /// Whether `.started` was already sent for the frame now being assembled.
    private var announcedPartial = false
    /// Set after a zero-length frame: the connection is closing, everything after is ignored.
    private var sawEmptyFrame = false

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if sawEmptyFrame {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        switch Self.nextFrame(in: &buffer) {
        case .message(let message)?:
            announcedPartial = false
            context.fireChannelRead(Self.wrapInboundOut(.message(message)))
            return .continue
        case .empty?:
            sawEmptyFrame = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(Self.wrapInboundOut(.empty))
            return .needMoreData
        case .started?, nil:
            // Bytes of a frame that is not complete yet: say so once, so the handler's read
            // timeout runs from the first byte (RFC 7766 §10: a peer must not hold the
            // connection with a message that never completes).
            if buffer.readableBytes > 0 && !announcedPartial {
                announcedPartial = true
                context.fireChannelRead(Self.wrapInboundOut(.started))
            }
            return .needMoreData
        }
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        // Complete messages still buffered are answered (and logged); a partial one at the end
        // of the stream can never complete and is dropped without a word.
        while !sawEmptyFrame, let frame = Self.nextFrame(in: &buffer) {
            if case .empty = frame { sawEmptyFrame = true }
            context.fireChannelRead(Self.wrapInboundOut(frame))
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    /// Takes one whole frame off the front of `buffer`: `.message` or `.empty`, or nil (and
    /// consumes nothing) when the frame is not complete.
    static func nextFrame(in buffer: inout ByteBuffer) -> DNSTCPFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) else { return nil }
        guard length > 0 else {
            buffer.moveReaderIndex(forwardBy: 2)
            return .empty
        }
        guard buffer.readableBytes >= 2 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 2)
        // Cannot be nil: the length was checked against readableBytes just above.
        guard let message = buffer.readSlice(length: Int(length)) else { return nil }
        return .message(message)
    }
}
