/** The Worker as deployed: the system clock. */
import { createWorker } from "./worker";

export default createWorker();
