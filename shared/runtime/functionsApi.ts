import functionsPackage from '@azure/functions';
import type * as Functions from '@azure/functions';

/**
 * `@azure/functions` is a webpack-built CommonJS bundle: Node's ESM loader cannot see its class
 * exports by name, so ES modules take them from the default export here.
 */
export const InvocationContext: typeof Functions.InvocationContext =
  functionsPackage.InvocationContext;
export type InvocationContext = Functions.InvocationContext;
export const HttpRequest: typeof Functions.HttpRequest = functionsPackage.HttpRequest;
export type HttpRequest = Functions.HttpRequest;
export const HttpResponse: typeof Functions.HttpResponse = functionsPackage.HttpResponse;
export type HttpResponse = Functions.HttpResponse;
