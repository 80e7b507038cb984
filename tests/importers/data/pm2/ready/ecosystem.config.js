// wait_ready: PM2 waited for process.send('ready'); ready.py now sends READY=1 instead.
module.exports = {
  apps: [
    {
      name: "api-ready",
      script: __dirname + "/../bin/ready.py",
      interpreter: "python3",
      wait_ready: true,
      listen_timeout: 10000,
      kill_timeout: 7000,
      instances: 2,
      env: { READY_VIA: "notify" },
    },
  ],
};
