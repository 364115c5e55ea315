/// The release this build is, printed by `sinkhole --version` and logged at start.
public enum SinkholeVersion {
    public static let string = "0.1.0"
}
