/** Process entry: `npm start` / `node dist/main.js`. */
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger, logFormatFor } from './observability/logger.js';
import { startGatehouse } from './server.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`gatehouse: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel, undefined, logFormatFor(config.env, process.stdout.isTTY));
  const gatehouse = await startGatehouse(config, log).catch((error: unknown) => {
    log.fatal({ err: error }, 'start-up failed');
    process.exit(1);
  });

  log.info(
    {
      listening: gatehouse.url,
      issuer: config.issuer,
      discovery: `${config.issuer}/.well-known/openid-configuration`,
      environment: config.env,
      adminApi: config.admin.enabled ? `${gatehouse.adminUrl ?? config.issuer}/admin/v1` : 'off',
    },
    `Gatehouse listening on ${gatehouse.url}; discovery at ${config.issuer}/.well-known/openid-configuration`,
  );
  // First run (issue 16 §4): no administrator yet, so say how to create one, in production too.
  const setupLink = await gatehouse.services.setup.issueLink().catch((error: unknown) => {
    log.warn({ err: error }, 'could not issue a first-run setup link; use `gatehouse admin setup-link`');
    return undefined;
  });
  if (setupLink) {
    log.warn(
      { setup: 'first-run', expiresAt: setupLink.expiresAt.toISOString() },
      `NO ADMINISTRATOR YET: open ${config.issuer}/setup?token=${setupLink.token} within an hour to create the first one (works once; \`gatehouse admin setup-link\` prints a new link)`,
    );
  } else if (config.env !== 'production') {
    log.info('next steps: `npx gatehouse users add alice --email alice@example.com` and `npx gatehouse clients add --type confidential --name "My app" --redirect-uri http://localhost:8080/callback`');
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    gatehouse
      .close()
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        log.error({ err: error }, 'unclean shutdown');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

await main();
