import CSinkholeSocket

/// The C shim's account calls (include/sinkhole_privileges.h) with Swift errors. Pointers stay
/// in this file.
enum PrivilegeCalls {
    /// uid and primary gid of `name`; nil when there is no such user.
    static func user(named name: String) throws(SocketCallError) -> (uid: UInt32, gid: UInt32)? {
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        let result = sinkhole_lookup_user(name, &uid, &gid)
        guard result >= 0 else { throw SocketCallError(call: "getpwnam_r", errno: -result) }
        return result == 0 ? (uid, gid) : nil
    }

    static func group(named name: String) throws(SocketCallError) -> UInt32? {
        var gid: UInt32 = 0
        let result = sinkhole_lookup_group(name, &gid)
        guard result >= 0 else { throw SocketCallError(call: "getgrnam_r", errno: -result) }
        return result == 0 ? gid : nil
    }

    static func become(user: String, uid: UInt32, gid: UInt32) throws(SocketCallError) {
        var failedCall: UnsafePointer<CChar>? = nil
        let result = sinkhole_drop_privileges(user, uid, gid, &failedCall)
        guard result == 0 else {
            throw SocketCallError(call: failedCall.map { String(cString: $0) } ?? "setresuid", errno: -result)
        }
    }
}
