/**
 * The API's shapes moved to ./schemas/ (browser-safe, shared with the web app). This re-export
 * keeps dataset-routes.ts, which is being changed in parallel, compiling; import from ./schemas/
 * in new code, and delete this file once nothing imports it.
 */
export { commonErrors, errorResponse, idParams, noContent } from './schemas/common.ts';
