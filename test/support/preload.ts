// Loaded before every test file (bunfig.toml). Keeps the service's logs out of the
// test report unless asked for.
import { setLogLevel } from "../../src/log.ts";

process.env.LOG_LEVEL ??= "error";
setLogLevel(process.env.LOG_LEVEL as "error");
