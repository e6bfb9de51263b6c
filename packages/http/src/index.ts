export {
  createErrorHandler,
  type ErrorBody,
  errorBody,
  HttpError,
  HttpErrorCode,
  httpErrorStatus,
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
