import Foundation
@testable import SinkholeServer
import Testing

/// Deploy/install.sh, the units in systemd/ and the production example configuration, used as
/// an operator would: the script staging into a DESTDIR (so it runs nothing on this host) with
/// the binary this test run built, systemd-analyze on the units it wrote, check-config on the
/// example. The Debian package has its own suite (DebPackageTests).
@Suite("Deploy: install.sh, the units and the example configuration")
struct DeployTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let installScript = repository.appendingPathComponent("Deploy/install.sh").path
    static let units = ["sinkhole.service", "sinkhole.socket", "sinkhole-export.service", "sinkhole-export.timer"]

    /// install.sh with DESTDIR, installing the binary under test instead of building one.
    @discardableResult
    static func install(into destdir: URL, _ arguments: [String] = [], mayFail: Bool = false) throws -> ExternalCommand {
        let result = try ExternalCommand.run(["bash", installScript, "--binary", SinkholeProcess.binary] + arguments,
                                             environment: ["DESTDIR": destdir.path])
        if result.status != 0 && !mayFail {
            Issue.record("install.sh \(arguments.joined(separator: " ")) exited \(result.status):\n\(result.output)")
            throw CancellationError()
        }
        return result
    }

    /// Every regular file under `root`, as the absolute path it stands for, with its mode.
    static func files(under root: URL) throws -> [String: Int] {
        var found: [String: Int] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root.path)
        while let relative = enumerator?.nextObject() as? String {
            let path = root.appendingPathComponent(relative).path
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            guard attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            found["/" + relative] = (attributes[.posixPermissions] as? Int) ?? -1
        }
        return found
    }

    static func read(_ root: URL, _ path: String) throws -> String {
        try String(contentsOfFile: root.path + path, encoding: .utf8)
    }

    /// Where install.sh puts the units and the sysusers, tmpfiles and sysctl files: under the
    /// prefix where systemd looks (/usr/local, /usr), in /etc for any other prefix.
    @Test("install.sh installs binary, units, sysusers, tmpfiles, sysctl, guide and example configuration, with their modes and the prefix's paths",
          arguments: [("/usr/local", "/usr/local/lib"), ("/usr", "/usr/lib"), ("/opt/sinkhole", "/etc")])
    func installsEveryFile(prefix: String, libdir: String) throws {
        let destdir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: destdir) }
        let output = try Self.install(into: destdir, ["--prefix", prefix]).output

        let unitdir = libdir == "/etc" ? "/etc/systemd/system" : "\(libdir)/systemd/system"
        let doc = "\(prefix)/share/doc/sinkhole"
        var expected: [String: Int] = [
            "\(prefix)/bin/sinkhole": 0o755,
            "\(libdir)/sysusers.d/sinkhole.conf": 0o644,
            "\(libdir)/tmpfiles.d/sinkhole.conf": 0o644,
            "\(libdir)/sysctl.d/sinkhole.conf": 0o644,
            "\(doc)/README.md": 0o644,
            "\(doc)/examples/sinkhole.yaml": 0o644,
            "\(doc)/examples/nftables.conf": 0o644,
            "\(doc)/examples/grafana-dashboard.json": 0o644,
            "\(doc)/examples/families/example-botnet.txt": 0o644,
            "/etc/sinkhole/sinkhole.yaml": 0o644,
            "/etc/sinkhole/families/example-botnet.txt": 0o644,
        ]
        for unit in Self.units { expected["\(unitdir)/\(unit)"] = 0o644 }
        #expect(try Self.files(under: destdir) == expected)

        let installed = try Data(contentsOf: URL(fileURLWithPath: destdir.path + "\(prefix)/bin/sinkhole"))
        #expect(installed == (try Data(contentsOf: URL(fileURLWithPath: SinkholeProcess.binary))))
        #expect(try Self.read(destdir, "/etc/sinkhole/sinkhole.yaml")
                == (try String(contentsOf: Self.repository.appendingPathComponent("Deploy/sinkhole.yaml"), encoding: .utf8)))

        // The units name this prefix's binary and guide, and nothing of the default prefix is left.
        let service = try Self.read(destdir, "\(unitdir)/sinkhole.service")
        #expect(service.contains("\nExecStartPre=\(prefix)/bin/sinkhole check-config --config /etc/sinkhole/sinkhole.yaml\n"))
        #expect(service.contains("\nExecStart=\(prefix)/bin/sinkhole run --config /etc/sinkhole/sinkhole.yaml\n"))
        #expect(service.contains("\nDocumentation=file:\(doc)/README.md\n"))
        let export = try Self.read(destdir, "\(unitdir)/sinkhole-export.service")
        #expect(export.contains("\nExecStart=\(prefix)/bin/sinkhole export --config /etc/sinkhole/sinkhole.yaml --all\n"))
        if prefix != "/usr/local" {
            for unit in Self.units {
                #expect(!(try Self.read(destdir, "\(unitdir)/\(unit)")).contains("/usr/local"), "\(unit)")
            }
        }
        // The rest are the repository's files as they are.
        #expect(try Self.read(destdir, "\(libdir)/sysctl.d/sinkhole.conf")
                == (try String(contentsOf: Self.repository.appendingPathComponent("Deploy/sysctl.d/sinkhole.conf"), encoding: .utf8)))
        #expect(try Self.read(destdir, "\(libdir)/sysusers.d/sinkhole.conf")
                == (try String(contentsOf: Self.repository.appendingPathComponent("systemd/sysusers.d/sinkhole.conf"), encoding: .utf8)))

        // With DESTDIR nothing runs on this host: the operator is told what to run.
        #expect(output.contains("DESTDIR is set: nothing was run"))
        #expect(output.contains("systemd-sysusers \(libdir)/sysusers.d/sinkhole.conf"))
        #expect(output.contains("systemctl enable --now sinkhole.service"))
    }

    @Test("a second install.sh run changes nothing, and an upgrade replaces what changed but keeps an edited configuration and lists")
    func secondRunAndUpgrade() throws {
        let destdir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: destdir) }
        try Self.install(into: destdir)
        let config = destdir.path + "/etc/sinkhole/sinkhole.yaml"
        let list = destdir.path + "/etc/sinkhole/families/example-botnet.txt"
        let edited = try String(contentsOfFile: config, encoding: .utf8) + "node: sinkhole-test-7\n"
        try edited.write(toFile: config, atomically: true, encoding: .utf8)
        try "evil.example\n".write(toFile: list, atomically: true, encoding: .utf8)
        let binary = destdir.path + "/usr/local/bin/sinkhole"
        let inode = try FileManager.default.attributesOfItem(atPath: binary)[.systemFileNumber] as? Int
        let before = try Self.files(under: destdir)

        let second = try Self.install(into: destdir).output
        #expect(try Self.files(under: destdir) == before)
        #expect(try FileManager.default.attributesOfItem(atPath: binary)[.systemFileNumber] as? Int == inode,
                "an unchanged binary is not rewritten")
        let verbs = second.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("install.sh: ") else { return nil }
            return line.dropFirst("install.sh: ".count).split(separator: " ").first.map(String.init)
        }
        #expect(!verbs.contains("installed") && !verbs.contains("updated"), "second run:\n\(second)")
        #expect(second.contains("install.sh: upgrading the sinkhole under /usr/local"))
        #expect(second.contains("install.sh: kept /etc/sinkhole/sinkhole.yaml (yours;"))
        #expect(try String(contentsOfFile: config, encoding: .utf8) == edited)
        #expect(try String(contentsOfFile: list, encoding: .utf8) == "evil.example\n")

        // An older install: a unit and the binary differ from this version's, and the example
        // list was deleted by the operator on purpose.
        let unit = destdir.path + "/usr/local/lib/systemd/system/sinkhole.service"
        try "[Unit]\nDescription=an older sinkhole\n".write(toFile: unit, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: binary)
        try "#!/bin/sh\necho 0.0.1\n".write(toFile: binary, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        try FileManager.default.removeItem(atPath: list)
        let upgrade = try Self.install(into: destdir).output
        #expect(upgrade.contains("install.sh: updated /usr/local/lib/systemd/system/sinkhole.service"))
        #expect(upgrade.contains("install.sh: updated /usr/local/bin/sinkhole"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: binary)) == (try Data(contentsOf: URL(fileURLWithPath: SinkholeProcess.binary))))
        #expect(try String(contentsOfFile: unit, encoding: .utf8).contains("ExecStart=/usr/local/bin/sinkhole run"))
        #expect(try String(contentsOfFile: config, encoding: .utf8) == edited)
        #expect(!FileManager.default.fileExists(atPath: list), "a list deleted by the operator stays deleted")
        #expect(upgrade.contains("systemctl try-restart sinkhole.service"))
    }

    @Test("install.sh --uninstall removes what it installed and keeps the configuration and the store; --purge removes those too")
    func uninstallAndPurge() throws {
        let destdir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: destdir) }
        try Self.install(into: destdir)
        let store = destdir.appendingPathComponent("var/lib/sinkhole")
        try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
        try Data("SQLite format 3\0".utf8).write(to: store.appendingPathComponent("checkins.db"))

        let output = try Self.install(into: destdir, ["--uninstall"]).output
        #expect(try Self.files(under: destdir) == [
            "/etc/sinkhole/sinkhole.yaml": 0o644,
            "/etc/sinkhole/families/example-botnet.txt": 0o644,
            "/var/lib/sinkhole/checkins.db": 0o644,
        ])
        #expect(output.contains("install.sh: removed /usr/local/bin/sinkhole"))
        #expect(output.contains("install.sh: kept /etc/sinkhole (the configuration and lists;"))
        #expect(output.contains("install.sh: kept /var/lib/sinkhole (the store,"))

        let again = try Self.install(into: destdir, ["--uninstall"]).output
        #expect(!again.contains("removed"), "nothing left to remove:\n\(again)")

        try Self.install(into: destdir, ["--uninstall", "--purge"])
        #expect(try Self.files(under: destdir) == [:])
    }

    @Test("install.sh --help explains the options and the files; a wrong option is refused with the help")
    func help() throws {
        let help = try ExternalCommand.run(["bash", Self.installScript, "--help"])
        #expect(help.status == 0)
        for word in ["--prefix", "--binary", "--uninstall", "--purge", "DESTDIR", "/etc/sinkhole/sinkhole.yaml",
                     "sysusers.d", "tmpfiles.d", "sysctl.d", "never overwritten"] {
            #expect(help.output.contains(word), "--help does not mention \(word)")
        }
        let wrong = try ExternalCommand.run(["bash", Self.installScript, "--prefixx", "/usr"])
        #expect(wrong.status != 0 && wrong.output.contains("unknown argument: --prefixx") && wrong.output.contains("Usage:"))
        let relative = try ExternalCommand.run(["bash", Self.installScript, "--prefix", "usr/local"])
        #expect(relative.status != 0 && relative.output.contains("absolute"))
    }

    @Test("systemd-analyze verify accepts every unit install.sh wrote, pointed at the installed binary")
    func verifyUnits() throws {
        let destdir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: destdir) }
        try Self.install(into: destdir)
        // verify checks that ExecStart's binary exists: the units name /usr/local/bin/sinkhole,
        // which is in the DESTDIR.
        let units = destdir.appendingPathComponent("verify")
        try FileManager.default.createDirectory(at: units, withIntermediateDirectories: true)
        for unit in Self.units {
            let text = try Self.read(destdir, "/usr/local/lib/systemd/system/\(unit)")
                .replacingOccurrences(of: "/usr/local/bin/sinkhole", with: destdir.path + "/usr/local/bin/sinkhole")
            try text.write(to: units.appendingPathComponent(unit), atomically: true, encoding: .utf8)
        }
        try Self.verify(units.path, Self.units)
    }

    /// `systemd-analyze verify` on `units` in `directory`: no finding at all, not even a warning
    /// (an unknown key is only a warning, and exit status 0).
    static func verify(_ directory: String, _ units: [String]) throws {
        let result = try ExternalCommand.run(["systemd-analyze", "verify"] + units.map { "\(directory)/\($0)" },
                                             environment: ["SYSTEMD_LOG_COLOR": "0"])
        #expect(result.status == 0 && result.output.isEmpty, "systemd-analyze verify:\n\(result.output)")
    }

    @Test("systemd-analyze security rates sinkhole.service at most 2.0, better than Debian's own nsd.service and knot.service")
    func exposure() throws {
        let sinkhole = try Self.exposure(of: Self.repository.appendingPathComponent("systemd/sinkhole.service").path)
        let debian = try DebianUnits.fetch()
        let nsd = try Self.exposure(of: debian.appendingPathComponent("nsd.service").path)
        let knot = try Self.exposure(of: debian.appendingPathComponent("knot.service").path)
        print("systemd-analyze security --offline=yes exposure: sinkhole.service \(sinkhole), nsd.service \(nsd), knot.service \(knot)")
        #expect(sinkhole <= 2.0)
        #expect(sinkhole < nsd && sinkhole < knot)
    }

    /// The overall exposure `systemd-analyze security --offline=yes` gives a unit file (0 to 10).
    static func exposure(of unit: String) throws -> Double {
        let output = try ExternalCommand.succeed(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit],
                                                 environment: ["SYSTEMD_LOG_COLOR": "0", "SYSTEMD_COLORS": "0"])
        let name = URL(fileURLWithPath: unit).lastPathComponent
        guard let line = output.split(separator: "\n").first(where: { $0.contains("Overall exposure level for \(name):") }),
              let figure = line.split(separator: ":").last?.split(separator: " ").first, let value = Double(figure) else {
            Issue.record("no overall exposure for \(name) in:\n\(output)")
            throw CancellationError()
        }
        return value
    }

    @Test("the production example passes check-config, in the tree and as installed, and names the sockets sinkhole.socket passes")
    func productionExample() throws {
        let example = Self.repository.appendingPathComponent("Deploy/sinkhole.yaml").path
        let inTree = try SinkholeProcess.runToExit(["check-config", "--config", example])
        #expect(inTree.status == 0, "check-config Deploy/sinkhole.yaml:\n\(inTree.stderr)\(inTree.stdout)")

        let destdir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: destdir) }
        try Self.install(into: destdir)
        let installed = try SinkholeProcess.runToExit(["check-config", "--config", destdir.path + "/etc/sinkhole/sinkhole.yaml"])
        #expect(installed.status == 0, "check-config on the installed example:\n\(installed.stderr)\(installed.stdout)")

        // What the daemon would use: the store the units' StateDirectory= holds, and placeholder
        // addresses from the documentation ranges only.
        let config = try SinkholeConfiguration.load(path: example)
        #expect(config.store.sqlite == "/var/lib/sinkhole/checkins.db")
        #expect(config.families.first?.domains == [Self.repository.appendingPathComponent("Deploy/families/example-botnet.txt").path])
        let addresses = config.sinkholeAddresses + config.families.flatMap(\.addresses)
        #expect(!addresses.isEmpty)
        for address in addresses {
            let text = "\(address)"
            #expect(text.hasPrefix("198.51.100.") || text.hasPrefix("2001:db8:"), "\(text) is not a documentation address")
        }

        // Under socket activation the daemon matches each passed socket to a listener by
        // address and port: every socket of sinkhole.socket must be one the example listens on.
        let socket = try String(contentsOf: Self.repository.appendingPathComponent("systemd/sinkhole.socket"), encoding: .utf8)
        let listeners = config.dns.listen + config.http.listen + config.http.tlsListen
        var passed = 0
        for line in socket.split(separator: "\n") where line.hasPrefix("ListenDatagram=") || line.hasPrefix("ListenStream=") {
            let value = line.split(separator: "=", maxSplits: 1)[1]
            guard let address = ListenAddress(value) else {
                Issue.record("sinkhole.socket: \(line) is not an address:port")
                continue
            }
            passed += 1
            #expect(listeners.contains(address), "sinkhole.socket passes \(address), which Deploy/sinkhole.yaml does not listen on")
            if line.hasPrefix("ListenDatagram=") {
                #expect(config.dns.listen.contains(address), "a datagram socket on \(address) that is not a DNS listener")
            }
        }
        #expect(passed >= 4)
    }
}

extension DeployTests {
    @Test("sysctl.d/sinkhole.conf sets real kernel settings, large enough for the buffers and backlogs the daemon asks for")
    func sysctlSettings() throws {
        let text = try String(contentsOf: Self.repository.appendingPathComponent("Deploy/sysctl.d/sinkhole.conf"), encoding: .utf8)
        var settings: [String: Int] = [:]
        var comment = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#") { comment = true; continue }
            if line.isEmpty { comment = false; continue }
            let parts = line.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let value = Int(parts[1]) else {
                Issue.record("not a key = number line: \(line)")
                continue
            }
            #expect(comment, "\(parts[0]) has no comment explaining it")
            #expect(FileManager.default.fileExists(atPath: "/proc/sys/" + parts[0].replacingOccurrences(of: ".", with: "/")),
                    "\(parts[0]) is not a kernel setting")
            settings[parts[0]] = value
        }
        // SO_RCVBUF asks are capped at rmem_max: the DNS sockets' 8 MiB must fit whole.
        #expect(settings["net.core.rmem_max", default: 0] >= DNSService.receiveBufferBytes)
        #expect(settings["net.core.rmem_max", default: 0] >= CatchAllService.receiveBufferBytes)
        #expect(settings["net.core.rmem_default", default: 0] >= DNSService.receiveBufferBytes)
        // listen() backlogs are capped at somaxconn.
        let backlog = Int(ListenerRole.allCases.map(\.backlog).max() ?? 0)
        #expect(settings["net.core.somaxconn", default: 0] >= backlog)
        #expect(settings["net.core.netdev_max_backlog", default: 0] > 1000, "no more than the kernel's default")
    }
}

/// Debian's own nsd.service and knot.service, the reference the sinkhole's hardening is
/// measured against: taken from the packages (`apt-get download`, `dpkg-deb -x`) without
/// installing the daemons, and kept under .build/debian-units.
enum DebianUnits {
    static func fetch() throws -> URL {
        let directory = DeployTests.repository.appendingPathComponent(".build/debian-units")
        let script = """
            set -e
            dir='\(directory.path)'
            [ -s "$dir/nsd.service" ] && [ -s "$dir/knot.service" ] && exit 0
            work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
            cd "$work"
            # apt runs the download as _apt unless told otherwise; the temporary directory is root's.
            apt-get -o APT::Sandbox::User=root -qq download nsd knot 2>/dev/null \\
              || { apt-get -qq update && apt-get -o APT::Sandbox::User=root -qq download nsd knot; }
            for deb in nsd_*.deb knot_*.deb; do dpkg-deb -x "$deb" root; done
            mkdir -p "$dir"
            cp root/lib/systemd/system/nsd.service root/lib/systemd/system/knot.service "$dir/"
            """
        try ExternalCommand.succeed(["bash", "-c", script], timeout: .seconds(300))
        return directory
    }
}
