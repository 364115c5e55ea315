import Foundation
import SinkholeServer
import Testing

/// The Debian package `make deb` builds (Deploy/deb/build.sh; `make test` builds it before the
/// tests run): what it holds, that lintian accepts it, that its binary needs no Swift, and that
/// dpkg installs, reinstalls, removes and purges it in a scratch root with its maintainer
/// scripts (run by dpkg outside a chroot, with DPKG_ROOT naming the scratch root).
@Suite("Deploy: the Debian package")
struct DebPackageTests {
    static let version = "\(SinkholeVersion.string)-1"

    /// The package for this version, or an issue saying how to build it.
    static func package() throws -> String {
        let arch = try ExternalCommand.succeed(["dpkg", "--print-architecture"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let path = DeployTests.repository.appendingPathComponent(".build/deb/sinkhole_\(version)_\(arch).deb").path
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("no \(path): `make deb` builds it (`make test` does before the tests)")
            throw CancellationError()
        }
        return path
    }

    static let files: Set<String> = [
        "/usr/bin/sinkhole",
        "/lib/systemd/system/sinkhole.service", "/lib/systemd/system/sinkhole.socket",
        "/lib/systemd/system/sinkhole-export.service", "/lib/systemd/system/sinkhole-export.timer",
        "/usr/lib/sysusers.d/sinkhole.conf", "/usr/lib/tmpfiles.d/sinkhole.conf", "/usr/lib/sysctl.d/sinkhole.conf",
        "/usr/share/doc/sinkhole/README.md", "/usr/share/doc/sinkhole/copyright",
        "/usr/share/doc/sinkhole/changelog.Debian.gz",
        "/usr/share/doc/sinkhole/examples/sinkhole.yaml", "/usr/share/doc/sinkhole/examples/nftables.conf",
        "/usr/share/doc/sinkhole/examples/grafana-dashboard.json",
        "/usr/share/doc/sinkhole/examples/families/example-botnet.txt",
        "/etc/sinkhole/sinkhole.yaml", "/etc/sinkhole/families/example-botnet.txt",
        "/usr/share/lintian/overrides/sinkhole",
    ]
    static let conffiles = ["/etc/sinkhole/families/example-botnet.txt", "/etc/sinkhole/sinkhole.yaml"]

    @Test("the package holds the binary in /usr/bin, the units naming it in /lib/systemd/system, and the configuration as conffiles, all root's")
    func contents() throws {
        let deb = try Self.package()
        let listing = try ExternalCommand.succeed(["dpkg-deb", "--contents", deb])
        var files = Set<String>()
        for line in listing.split(separator: "\n") {
            // -rw-r--r-- root/root      4464 2026-11-29 21:09 ./etc/sinkhole/sinkhole.yaml
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6 else { continue }
            #expect(fields[1] == "root/root", "\(line)")
            let path = String(fields[5].dropFirst())
            if fields[0].hasPrefix("-") { files.insert(path) }
            if path == "/usr/bin/sinkhole" { #expect(fields[0] == "-rwxr-xr-x") }
            if path.hasPrefix("/etc/") && fields[0].hasPrefix("-") { #expect(fields[0] == "-rw-r--r--", "\(line)") }
        }
        #expect(files == Self.files)

        let conffiles = try ExternalCommand.succeed(["dpkg-deb", "--info", deb, "conffiles"])
        #expect(conffiles.split(separator: "\n").map(String.init) == Self.conffiles)
        let control = try ExternalCommand.succeed(["dpkg-deb", "--field", deb, "Package", "Version", "Depends"])
        #expect(control.contains("Package: sinkhole\n") && control.contains("Version: \(Self.version)\n"))
        #expect(control.contains("libc6 (>=") && control.contains("adduser"), "\(control)")
        // ExecReload's /bin/kill: procps, which a minimal Debian (debootstrap minbase) lacks.
        #expect(control.contains("procps"), "\(control)")
        #expect(!control.lowercased().contains("swift"), "\(control)")

        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try ExternalCommand.succeed(["dpkg-deb", "--extract", deb, root.path])
        let service = try String(contentsOfFile: root.path + "/lib/systemd/system/sinkhole.service", encoding: .utf8)
        #expect(service.contains("\nExecStart=/usr/bin/sinkhole run --config /etc/sinkhole/sinkhole.yaml\n"))
        #expect(service.contains("\nDocumentation=file:/usr/share/doc/sinkhole/README.md\n"))
        // verify wants the binary the units name: the package's own, where it was extracted.
        let units = root.appendingPathComponent("verify")
        try FileManager.default.createDirectory(at: units, withIntermediateDirectories: true)
        for unit in DeployTests.units {
            let text = try String(contentsOfFile: root.path + "/lib/systemd/system/\(unit)", encoding: .utf8)
            #expect(!text.contains("/usr/local"), "\(unit)")
            try text.replacingOccurrences(of: "/usr/bin/sinkhole", with: root.path + "/usr/bin/sinkhole")
                .write(to: units.appendingPathComponent(unit), atomically: true, encoding: .utf8)
        }
        try DeployTests.verify(units.path, DeployTests.units)
    }

    @Test("the packaged binary runs without a Swift toolchain: the Swift runtime is linked in")
    func selfContained() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try ExternalCommand.succeed(["dpkg-deb", "--extract", try Self.package(), root.path])
        let binary = root.path + "/usr/bin/sinkhole"
        let libraries = try ExternalCommand.succeed(["ldd", binary])
        for foreign in ["libswift", "libFoundation", "libdispatch", "/opt/swift", "not found"] {
            #expect(!libraries.contains(foreign), "ldd \(binary):\n\(libraries)")
        }
        // No PATH, no LD_LIBRARY_PATH: what a host without Swift gives it.
        let version = try ExternalCommand.succeed(["-i", binary, "--version"])
        #expect(version.trimmingCharacters(in: .whitespacesAndNewlines) == SinkholeVersion.string)
    }

    @Test("lintian reports no error, and only warnings that Deploy/deb/build.sh explains")
    func lintian() throws {
        let result = try ExternalCommand.run(["lintian", try Self.package()], timeout: .seconds(300))
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(!lines.contains { $0.hasPrefix("E: ") }, "lintian:\n\(result.output)")
        #expect(result.status == 0 || result.status == 2, "lintian exited \(result.status):\n\(result.output)")
        let script = try String(contentsOf: DeployTests.repository.appendingPathComponent("Deploy/deb/build.sh"), encoding: .utf8)
        for line in lines where line.hasPrefix("W: ") {
            // W: sinkhole: no-manual-page [usr/bin/sinkhole]
            let tag = line.split(separator: " ").dropFirst(2).first.map(String.init) ?? line
            #expect(script.contains("#   - \(tag)"), "lintian warning not explained in Deploy/deb/build.sh: \(line)")
        }
        print("lintian:\n\(result.output)")
    }

    @Test("dpkg installs, reinstalls, removes and purges the package in a scratch root: user, state directory, conffiles kept until purge, the store kept",
          .enabled(if: getuid() == 0, "dpkg --root must chown the files to root (CI runs as root)"))
    func scratchRoot() throws {
        let deb = try Self.package()
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        for directory in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        for file in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
            FileManager.default.createFile(atPath: root.appendingPathComponent(file).path, contents: Data())
        }
        // The scratch root has no libc6 or adduser package; the maintainer scripts run on this
        // host's tools with DPKG_ROOT set, and act on the scratch root only.
        let dpkg = ["dpkg", "--root=\(root.path)", "--force-script-chrootless", "--force-depends", "--log=/dev/null"]
        func path(_ p: String) -> String { root.path + p }
        let fm = FileManager.default

        try ExternalCommand.succeed(dpkg + ["--install", deb])
        for file in Self.files { #expect(fm.fileExists(atPath: path(file)), "\(file) not installed") }
        let passwd = try String(contentsOfFile: path("/etc/passwd"), encoding: .utf8)
        let user = passwd.split(separator: "\n").first { $0.hasPrefix("sinkhole:") }
        #expect(user?.hasSuffix(":/var/lib/sinkhole:/usr/sbin/nologin") == true, "postinst made no sinkhole user:\n\(passwd)")
        let uid = user.flatMap { Int($0.split(separator: ":")[2]) }
        let state = try fm.attributesOfItem(atPath: path("/var/lib/sinkhole"))
        #expect(state[.ownerAccountID] as? Int == uid && state[.posixPermissions] as? Int == 0o750)
        #expect(fm.fileExists(atPath: path("/var/lib/sinkhole/feeds")))
        #expect(fm.fileExists(atPath: path("/var/lib/systemd/deb-systemd-helper-enabled/sinkhole.service.dsh-also")))

        // The operator edits the configuration; the same package again keeps the edit.
        let config = path("/etc/sinkhole/sinkhole.yaml")
        let edited = try String(contentsOfFile: config, encoding: .utf8) + "node: scratch-1\n"
        try edited.write(toFile: config, atomically: false, encoding: .utf8)
        try ExternalCommand.succeed(dpkg + ["--install", deb])
        #expect(try String(contentsOfFile: config, encoding: .utf8) == edited)
        try Data("SQLite format 3\0".utf8).write(to: URL(fileURLWithPath: path("/var/lib/sinkhole/checkins.db")))

        try ExternalCommand.succeed(dpkg + ["--remove", "sinkhole"])
        for file in Self.files where !file.hasPrefix("/etc/") {
            #expect(!fm.fileExists(atPath: path(file)), "\(file) left after remove")
        }
        #expect(try String(contentsOfFile: config, encoding: .utf8) == edited, "remove keeps the conffiles")

        let purge = try ExternalCommand.succeed(dpkg + ["--purge", "sinkhole"])
        #expect(!fm.fileExists(atPath: path("/etc/sinkhole")), "purge leaves /etc/sinkhole")
        #expect(!fm.fileExists(atPath: path("/var/lib/systemd/deb-systemd-helper-enabled/sinkhole.service.dsh-also")))
        #expect(fm.fileExists(atPath: path("/var/lib/sinkhole/checkins.db")), "purge must keep the store")
        #expect(purge.contains("the store in /var/lib/sinkhole is kept"))
        // Purged: dpkg has no record of it, or one saying "not installed".
        let query = try ExternalCommand.run(["dpkg-query", "--admindir=\(path("/var/lib/dpkg"))", "-W", "-f=${db:Status-Abbrev}", "sinkhole"])
        #expect(query.status != 0 || query.output.hasPrefix("pn") || query.output.hasPrefix("un"), "dpkg still has the package: \(query.output)")
    }
}
