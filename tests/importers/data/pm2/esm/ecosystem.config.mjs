import os from "node:os";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const workers = Math.min(os.cpus().length, 2);

export default {
  apps: [
    {
      name: "ssr",
      script: `${here}../bin/app.js`,
      instances: workers,
      exec_mode: "fork",
      env: { NODE_ENV: "development", RENDER_MODE: `workers-${workers}` },
      env_staging: { NODE_ENV: "staging", API_URL: "http://127.0.0.1:9000" },
      kill_timeout: 6000,
      time: true,
    },
  ],
};
