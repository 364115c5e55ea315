import Foundation
import Logging

/// Leaving root for `user:` (and `group:`) once the listeners are bound and capture is open,
/// for hosts that start the sinkhole as root without systemd (whose unit starts it as its own
/// user with only the capabilities it needs). After the drop the process has no capability
/// left: nothing it does later (reloads, the store, the feed API) needs one.
struct PrivilegeDrop: Equatable, Sendable {
    var user: String
    var uid: UInt32
    var gid: UInt32
    /// The group's name when `group:` named one, for the log.
    var group: String?

    /// Resolves `configuration.user`/`group`; nil when none is configured. A name the host
    /// does not know is an error (check-config reports it too).
    static func resolve(_ configuration: SinkholeConfiguration) throws -> PrivilegeDrop? {
        guard let user = configuration.user else { return nil }
        do {
            guard let account = try PrivilegeCalls.user(named: user) else {
                throw Sinkhole.StartupError(description: "user \(user) (the user key) does not exist on this host; create it (Deploy/README.md: systemd-sysusers) or change user")
            }
            var gid = account.gid
            if let group = configuration.group {
                guard let found = try PrivilegeCalls.group(named: group) else {
                    throw Sinkhole.StartupError(description: "group \(group) (the group key) does not exist on this host")
                }
                gid = found
            }
            return PrivilegeDrop(user: user, uid: account.uid, gid: gid, group: configuration.group)
        } catch let error as SocketCallError {
            throw Sinkhole.StartupError(description: "cannot look up user \(user): \(error)")
        }
    }

    /// Becomes the account. As root: for good (and without capabilities). Already running as
    /// the account (systemd's User=, or started by hand as it): nothing to do. As anyone else:
    /// an error, since the operator asked for an account this process cannot become.
    func apply(logger: Logger) throws {
        let (uid, euid) = (getuid(), geteuid())
        if euid != 0 {
            guard uid == self.uid && euid == self.uid else {
                throw Sinkhole.StartupError(description: "user is \(user) (uid \(self.uid)), but the sinkhole runs as uid \(euid) and cannot become it; start it as root or as \(user)")
            }
            return
        }
        guard self.uid != 0 else {
            throw Sinkhole.StartupError(description: "user \(user) is root (uid 0); name an unprivileged account")
        }
        do {
            try PrivilegeCalls.become(user: user, uid: self.uid, gid: gid)
        } catch {
            throw Sinkhole.StartupError(description: "cannot drop root for user \(user): \(error)")
        }
        logger.notice("privileges dropped", metadata: [
            "user": "\(user)", "uid": "\(self.uid)", "gid": "\(gid)", "group": "\(group ?? "(primary)")",
        ])
    }
}

extension Sinkhole {
    /// For `check-config`: the configured `user:`/`group:` exist on this host.
    public static func checkAccount(_ configuration: SinkholeConfiguration) throws {
        _ = try PrivilegeDrop.resolve(configuration)
    }
}
