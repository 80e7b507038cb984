const os = require("os");

const cpus = os.cpus().length;
const base = __dirname + "/../bin/";

module.exports = {
  apps: [
    {
      name: "web",
      script: base + "app.js",
      args: " --port 8080 --host 127.0.0.1",
      instances: "max",
      exec_mode: "cluster_mode",
      increment_var: "PORT",
      env: {
        PORT: 8080,
        CPUS: cpus,
        FEATURE_FLAGS: { search: true },
      },
      merge_logs: true,
      log_date_format: "YYYY-MM-DD HH:mm Z",
      max_restarts: 10,
      min_uptime: 5000,
      exp_backoff_restart_delay: 100,
    },
    {
      name: "queue",
      cmd: "sleep",
      args: "620",
      instances: cpus > 4 ? 4 : 1,
      listen_timeout: 8000,
      vizion: false,
      source_map_support: true,
    },
  ],
};
