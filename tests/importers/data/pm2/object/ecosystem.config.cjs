// apps as an object: name -> app (seen in the wild; PM2 takes the values)
module.exports = {
  apps: {
    mailer: {
      script: "python3",
      args: ["-c", "import signal, sys; signal.signal(signal.SIGINT, lambda *a: sys.exit(0)); signal.pause()"],
      instances: "2",
      kill_timeout: 2500,
      env: { SMTP_HOST: "127.0.0.1", SMTP_PORT: 2525 },
    },
    "cache-warmer": {
      script: "sleep",
      args: "630",
      autorestart: false,
      restart_delay: 3000,
      namespace: "jobs",
    },
  },
};
