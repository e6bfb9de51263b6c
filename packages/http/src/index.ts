export {
  createErrorHandler,
  DISK_FULL_MESSAGE,
  type ErrorBody,
  errorBody,
  HttpError,
  HttpErrorCode,
  httpErrorStatus,
  isDiskFull,
  type StatusForCode,
  statusTable,
} from './errors.js';
export {
  allowedHostNames,
  createHttpServer,
  type HttpServerOptions,
  hostAllowed,
  hostHeaderName,
  originAllowed,
  redactUrl,
} from './server.js';
export {
  generateToken,
  type LoadedToken,
  type LoadTokenOptions,
  loadOrCreateToken,
  tokenChecker,
  tokensEqual,
} from './tokens.js';
