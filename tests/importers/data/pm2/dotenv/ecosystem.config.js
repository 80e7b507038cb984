require("dotenv").config();

const path = require("path");
const isProduction = process.env.NODE_ENV === "production";

module.exports = {
  apps: [
    {
      name: "api",
      script: "../bin/app.js",
      instances: process.env.API_WORKERS,
      exec_mode: "cluster",
      node_args: "--max-old-space-size=256",
      env: {
        DATABASE_URL: process.env.DATABASE_URL,
        LOG_LEVEL: isProduction ? "info" : "debug",
      },
      env_production: {
        NODE_ENV: "production",
      },
      kill_timeout: 4000,
      max_memory_restart: "300M",
    },
    {
      name: "scheduler",
      script: "python3",
      args: ["-u", path.join(__dirname, "..", "bin", "worker.py")],
      autorestart: true,
      cron_restart: "0 4 * * *",
      out_file: "./logs/scheduler.out.log",
      error_file: "./logs/scheduler.err.log",
    },
  ],
};
