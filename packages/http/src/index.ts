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
  createHttpServer,
  type HttpServerOptions,
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
