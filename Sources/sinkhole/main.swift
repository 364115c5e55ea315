import Dispatch

// A synchronous entry point that waits for the command, instead of an async `@main`: an async
// main parks the main thread in `dispatchMain()`, which valgrind 3.19 (Debian 12) cannot run,
// and the DNS benchmark counts the server's instructions per query under callgrind.
// Detached, because top-level code is on the main actor, whose queue nothing would drain.
let finished = DispatchSemaphore(value: 0)
Task.detached {
    await SinkholeCommand.main()
    finished.signal()
}
finished.wait()
